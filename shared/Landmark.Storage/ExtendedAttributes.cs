using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Landmark.Storage;

/// <summary>
/// Extended attributes of files in the <c>user.</c> namespace (Linux: ext4, XFS, Btrfs, tmpfs from 6.6, overlayfs on
/// those), where <see cref="LocalDiskObjectStore"/> keeps an object's metadata: set on the temporary file before it is
/// flushed and renamed into place, so bytes and metadata arrive together in one file. Elsewhere every call says "not
/// here" and the store keeps sidecar files instead.
/// </summary>
internal static partial class ExtendedAttributes
{
    /// <summary>The attribute that holds an object's metadata (JSON).</summary>
    public const string MetadataName = "user.landmark.meta";

    /// <summary>Larger values go to a sidecar file (ext4 keeps all of a file's attributes in one 4 KiB block).</summary>
    public const int MaxValueBytes = 3072;

    private const int ErrorOutOfRange = 34; // ERANGE: the buffer was too small

    /// <summary>True when files under <paramref name="directory"/> take a user attribute and give it back.</summary>
    public static bool Probe(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        var probe = Path.Combine(directory, ".xattr-probe-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var file = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                if (!TrySet(file.SafeFileHandle, MetadataName, "{}"u8))
                {
                    return false;
                }
            }
            return Get(probe, MetadataName) is [(byte)'{', (byte)'}'];
        }
        catch (IOException)
        {
            return false;
        }
        finally
        {
            try
            {
                File.Delete(probe);
            }
            catch (IOException)
            {
                // A probe file left behind is harmless: listings only walk the bucket directories.
            }
        }
    }

    /// <summary>Sets <paramref name="name"/> on an open file; false when the file system refuses (no attributes there,
    /// the value too large, no space).</summary>
    public static bool TrySet(SafeFileHandle file, string name, ReadOnlySpan<byte> value) =>
        OperatingSystem.IsLinux() && value.Length <= MaxValueBytes && FSetXattr(file, name, value, (nuint)value.Length, 0) == 0;

    /// <summary>The attribute's value, or null when the file has no such attribute (or is gone, or the file system
    /// keeps none).</summary>
    public static byte[]? Get(string path, string name)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        Span<byte> buffer = stackalloc byte[512];
        var length = GetXattr(path, name, buffer, (nuint)buffer.Length);
        if (length >= 0)
        {
            return buffer[..(int)length].ToArray();
        }
        while (Marshal.GetLastPInvokeError() == ErrorOutOfRange)
        {
            var size = GetXattr(path, name, Span<byte>.Empty, 0);
            if (size < 0)
            {
                return null;
            }
            var large = new byte[size];
            length = GetXattr(path, name, large, (nuint)large.Length);
            if (length >= 0)
            {
                return large.AsSpan(0, (int)length).ToArray();
            }
        }
        return null;
    }

    [LibraryImport("libc", EntryPoint = "fsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FSetXattr(SafeFileHandle file, string name, ReadOnlySpan<byte> value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "getxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetXattr(string path, string name, Span<byte> value, nuint size);
}
