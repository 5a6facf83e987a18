using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace Landmark.Ingest;

/// <summary>Why a server-side import (or one file of it) was refused. <see cref="Exception.Message"/> is safe to send
/// to the caller: it names no server path and quotes no file content.</summary>
public sealed class ImportRefusedException(string message) : Exception(message);

/// <summary>
/// Confines the server-side <c>ImportDataset</c> to the directories of <see cref="IngestOptions.ImportRoots"/>: a
/// dataset directory and every file read for it must lie inside a root once every symbolic link on the way is
/// resolved; only regular files are read (never a FIFO, device, socket or directory), at most
/// <see cref="IngestOptions.MaxImportFileBytes"/> each, checked before the first byte is read. With no roots
/// configured, server-side import is off. Messages never contain a server path or file content.
/// </summary>
public sealed class ImportRoots
{
    private readonly IReadOnlyList<string> _roots;
    private readonly long _maxFileBytes;

    public ImportRoots(IOptions<IngestOptions> options)
        : this(options.Value.ImportRoots, options.Value.MaxImportFileBytes)
    {
    }

    public ImportRoots(IEnumerable<string> roots, long maxFileBytes)
    {
        _roots = roots.Where(r => !string.IsNullOrWhiteSpace(r)).Select(RealPath.Resolve).Distinct(StringComparer.Ordinal).ToList();
        _maxFileBytes = maxFileBytes;
    }

    /// <summary>Whether server-side import is on (at least one root).</summary>
    public bool Enabled => _roots.Count > 0;

    /// <summary>The real path of the dataset directory <paramref name="requested"/>: an absolute path inside a root,
    /// or a path relative to the first root under which it exists.</summary>
    public string ResolveDirectory(string requested)
    {
        if (!Enabled)
        {
            throw new ImportRefusedException(
                "server-side import is off: the server lists no Landmark:Ingest:ImportRoots (upload from the client with `landmark import` instead)");
        }
        if (string.IsNullOrWhiteSpace(requested) || requested.Contains('\0', StringComparison.Ordinal))
        {
            throw new ImportRefusedException("a dataset path is required");
        }
        IEnumerable<string> candidates = Path.IsPathRooted(requested)
            ? [requested]
            : _roots.Select(root => Path.Combine(root, requested));
        foreach (var candidate in candidates)
        {
            var real = RealPath.Resolve(candidate);
            if (!IsInsideRoot(real))
            {
                continue;
            }
            if (FileKinds.Of(real) == FileKind.Directory)
            {
                return real;
            }
        }
        throw new ImportRefusedException("no dataset directory at that path inside the server's import roots");
    }

    /// <summary>Checks a file before anything reads it: inside a root after resolving links, a regular file, not too
    /// large (unless <paramref name="limitSize"/> is false: the dataset's CSV files, which are streamed). Returns its
    /// real path.</summary>
    public string CheckFile(string path, bool limitSize = true)
    {
        var real = RealPath.Resolve(path);
        if (!IsInsideRoot(real))
        {
            throw new ImportRefusedException("the file lies outside the server's import roots (a symbolic link leaving them?)");
        }
        var (kind, length) = FileKinds.Stat(real);
        switch (kind)
        {
            case FileKind.Missing:
                throw new ImportRefusedException("the file does not exist");
            case FileKind.Directory:
                throw new ImportRefusedException("a directory, not a file");
            case FileKind.Other:
                throw new ImportRefusedException("not a regular file (a FIFO, device or socket)");
        }
        if (limitSize && length > _maxFileBytes)
        {
            throw new ImportRefusedException($"the file has {length} bytes, more than the limit of {_maxFileBytes}");
        }
        return real;
    }

    /// <summary>Reads a checked file (<see cref="CheckFile"/>), refusing it if it grew past the limit meanwhile.</summary>
    public async Task<byte[]> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        var real = CheckFile(path);
        await using var stream = new FileStream(real, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.Read,
            Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
            BufferSize = 0,
        });
        if (OpenedPath(stream) is { } opened && !string.Equals(opened, real, StringComparison.Ordinal))
        {
            throw new ImportRefusedException("the file changed while it was opened");
        }
        var length = stream.Length;
        if (length > _maxFileBytes)
        {
            throw new ImportRefusedException($"the file has {length} bytes, more than the limit of {_maxFileBytes}");
        }
        var buffer = new byte[length];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0)
            {
                break;
            }
            read += n;
        }
        if (read < buffer.Length)
        {
            Array.Resize(ref buffer, read);
        }
        else if (await stream.ReadAsync(new byte[1], cancellationToken) > 0)
        {
            throw new ImportRefusedException("the file grew while it was read");
        }
        return buffer;
    }

    private bool IsInsideRoot(string realPath) => _roots.Any(root => IsInside(root, realPath));

    internal static bool IsInside(string root, string path)
    {
        if (string.Equals(root, path, StringComparison.Ordinal))
        {
            return true;
        }
        var prefix = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        return path.StartsWith(prefix, StringComparison.Ordinal);
    }

    /// <summary>On Linux, the path the kernel has for the opened descriptor (so a link swapped in between the check and
    /// the open is noticed); null elsewhere.</summary>
    private static string? OpenedPath(FileStream stream)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        var fd = stream.SafeFileHandle.DangerousGetHandle().ToInt64();
        return new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
    }
}

/// <summary>Resolves a path to its real path: absolute, normalised, with every symbolic link on the way replaced by
/// its target (like POSIX <c>realpath</c>, but components that do not exist are kept as written).</summary>
public static class RealPath
{
    private const int MaxLinks = 40;

    public static string Resolve(string path)
    {
        // Not Path.GetFullPath: it folds '..' lexically, before the links it climbs out of are resolved.
        var full = Path.IsPathFullyQualified(path) ? path : Path.Join(Directory.GetCurrentDirectory(), path);
        var root = Path.GetPathRoot(full) ?? "/";
        var pending = new LinkedList<string>(Split(full[root.Length..]));
        var current = root;
        var links = 0;
        while (pending.First is { } first)
        {
            pending.RemoveFirst();
            var part = first.Value;
            if (part is "" or ".")
            {
                continue;
            }
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? root;
                continue;
            }
            var next = Path.Join(current, part);
            string? target;
            try
            {
                target = new FileInfo(next).LinkTarget;
            }
            catch (IOException)
            {
                target = null;
            }
            catch (UnauthorizedAccessException)
            {
                target = null;
            }
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks)
            {
                throw new ImportRefusedException("too many symbolic links on the path");
            }
            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target) ?? root;
                target = target[current.Length..];
            }
            // The target's components come before the rest of the path, and are resolved in turn (no lexical '..').
            foreach (var component in Split(target).Reverse())
            {
                pending.AddFirst(component);
            }
        }
        return current;
    }

    private static string[] Split(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
}

public enum FileKind
{
    Missing,
    Regular,
    Directory,
    /// <summary>A FIFO, character or block device, socket or (when not following links) a symbolic link.</summary>
    Other,
}

/// <summary>The type of a file, without following a final symbolic link and without opening the file (opening a FIFO
/// blocks until a writer comes). Linux: <c>statx(2)</c>; elsewhere an approximation from <see cref="FileSystemInfo"/>.</summary>
public static class FileKinds
{
    public static FileKind Of(string path) => Stat(path).Kind;

    public static (FileKind Kind, long Length) Stat(string path)
    {
        if (OperatingSystem.IsLinux())
        {
            var buffer = new byte[256];
            if (NativeMethods.statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType | StatxSize, buffer) != 0)
            {
                return (FileKind.Missing, 0);
            }
            var mode = BitConverter.ToUInt16(buffer, 28) & 0xF000;
            var size = BitConverter.ToInt64(buffer, 40);
            return mode switch
            {
                0x8000 => (FileKind.Regular, size),
                0x4000 => (FileKind.Directory, 0),
                _ => (FileKind.Other, 0),
            };
        }
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
        {
            return (FileKind.Other, 0);
        }
        if (Directory.Exists(path))
        {
            return (FileKind.Directory, 0);
        }
        return info.Exists ? (FileKind.Regular, info.Length) : (FileKind.Missing, 0);
    }

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const uint StatxSize = 0x200;

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        internal static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
    }
}

/// <summary>Start-up check of <see cref="IngestOptions.ImportRoots"/>: each entry is an existing directory.</summary>
public sealed class IngestOptionsValidator : IValidateOptions<IngestOptions>
{
    public ValidateOptionsResult Validate(string? name, IngestOptions options)
    {
        var failures = new List<string>();
        for (var i = 0; i < options.ImportRoots.Count; i++)
        {
            var root = options.ImportRoots[i];
            if (string.IsNullOrWhiteSpace(root) || FileKinds.Of(RealPath.Resolve(root)) != FileKind.Directory)
            {
                failures.Add($"{IngestOptions.SectionName}:ImportRoots:{i} ('{root}') is not an existing directory.");
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
