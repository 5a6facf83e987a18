using System.Globalization;
using System.Runtime.InteropServices;

namespace Landmark.VectorIndex;

/// <summary>
/// Moves memory a native library allocated onto 2 MiB transparent huge pages (Linux 6.1+). A graph walk reads a few
/// hundred vectors at random addresses per query; on 4 KiB pages nearly every one of them also misses the TLB, and in a
/// virtual machine a TLB miss walks two page tables. USearch maps its arenas itself and has no allocator hook, so this
/// class compares the process's anonymous mappings before and after the library allocated and collapses the 2 MiB
/// blocks of the new ones that are already fully resident (<c>madvise(MADV_COLLAPSE)</c>). Partly touched blocks are
/// left alone and no region is flagged for future faults, so the process's memory does not grow and nothing else
/// changes behaviour. Where the kernel cannot (older kernel, THP disabled, no free huge page) the memory simply stays
/// on small pages: the outcome is reported, never thrown.
/// </summary>
internal static partial class TransparentHugePages
{
    private const int MadvCollapse = 25;
    private const int EInvalid = 22;
    private const long Block = 2L << 20;
    private const long SmallPage = 4096;

    /// <summary>Regions smaller than this are not the library's arenas (thread stacks, small mallocs) and are skipped.</summary>
    internal const long MinimumRegion = 16L << 20;

    /// <summary>Whether the kernel offers transparent huge pages at all (not "never").</summary>
    public static bool Available { get; } = OperatingSystem.IsLinux() && ReadAvailable();

    /// <summary>The address ranges mapped now, of any kind (empty where huge pages are not available).</summary>
    public static MappingSnapshot Snapshot() => new(Available ? ParseMappings(File.ReadLines("/proc/self/maps"), anonymousReadWriteOnly: false) : []);

    /// <summary>
    /// Collapses the fully resident 2 MiB blocks of the anonymous read-write memory at addresses that were not mapped at
    /// all at <paramref name="before"/> (so a runtime's reserved heap committed meanwhile is not included), in regions of
    /// at least <see cref="MinimumRegion"/>, into huge pages.
    /// </summary>
    /// <param name="before">The snapshot to compare with.</param>
    /// <param name="now">The mappings read for this call (one read of <c>/proc/self/maps</c> serves both), to pass as
    /// <paramref name="before"/> next time so that call looks only at memory mapped after this one.</param>
    public static HugePageOutcome CollapseMappedSince(MappingSnapshot before, out MappingSnapshot now)
    {
        if (!Available)
        {
            now = before;
            return new HugePageOutcome(0, 0, "transparent huge pages are not available on this host");
        }
        var lines = File.ReadAllLines("/proc/self/maps");
        var fresh = Subtract(ParseMappings(lines, anonymousReadWriteOnly: true), before.Ranges);
        now = new MappingSnapshot(ParseMappings(lines, anonymousReadWriteOnly: false));
        long collapsed = 0, failed = 0;
        string? error = null;
        foreach (var (start, end) in fresh)
        {
            var first = (start + Block - 1) / Block * Block;
            var last = end / Block * Block;
            if (end - start < MinimumRegion || last <= first)
            {
                continue;
            }
            for (var block = first; block < last; block += Block)
            {
                if (!FullyResident(block))
                {
                    continue; // collapsing would fault in the missing pages
                }
                if (Collapse(block, Block, out var errno))
                {
                    collapsed += Block;
                }
                else if (errno == EInvalid)
                {
                    // Kernels before 6.1 do not know the advice: nothing further will collapse either.
                    return new HugePageOutcome(collapsed, failed + (end - block), "this kernel has no MADV_COLLAPSE (Linux 6.1+)");
                }
                else
                {
                    failed += Block;
                    error ??= Marshal.GetPInvokeErrorMessage(errno);
                }
            }
        }
        return new HugePageOutcome(collapsed, failed, error);
    }

    /// <summary>Ranges of <paramref name="after"/> not covered by <paramref name="before"/> (both sorted, disjoint).</summary>
    internal static List<(long Start, long End)> Subtract(IReadOnlyList<(long Start, long End)> after, IReadOnlyList<(long Start, long End)> before)
    {
        var result = new List<(long, long)>();
        var j = 0;
        foreach (var (start, end) in after)
        {
            var from = start;
            while (j < before.Count && before[j].End <= from)
            {
                j++;
            }
            for (var k = j; k < before.Count && before[k].Start < end; k++)
            {
                if (before[k].Start > from)
                {
                    result.Add((from, before[k].Start));
                }
                from = Math.Max(from, before[k].End);
            }
            if (from < end)
            {
                result.Add((from, end));
            }
        }
        return result;
    }

    /// <summary>
    /// Parses <c>/proc/self/maps</c> lines into sorted address ranges: every mapping, or with
    /// <paramref name="anonymousReadWriteOnly"/> only private anonymous read-write ones.
    /// </summary>
    internal static List<(long Start, long End)> ParseMappings(IEnumerable<string> lines, bool anonymousReadWriteOnly)
    {
        var ranges = new List<(long, long)>();
        foreach (var line in lines)
        {
            // "7f1c2a000000-7f1c2c000000 rw-p 00000000 00:00 0   [optional name]"
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 5)
            {
                continue;
            }
            var name = fields.Length == 6 ? fields[5].Trim() : "";
            if (anonymousReadWriteOnly && (fields[1] != "rw-p" || fields[4] != "0" || (name.Length > 0 && !name.StartsWith("[anon:", StringComparison.Ordinal))))
            {
                continue; // read-only or reserved, files, [heap], [stack]
            }
            var dash = fields[0].IndexOf('-');
            ranges.Add((
                long.Parse(fields[0].AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                long.Parse(fields[0].AsSpan(dash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
        }
        ranges.Sort();
        return ranges;
    }

    private static bool ReadAvailable()
    {
        try
        {
            return !File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static unsafe bool FullyResident(long block)
    {
        const int pages = (int)(Block / SmallPage);
        var residency = stackalloc byte[pages];
        if (mincore((void*)block, (nuint)Block, residency) != 0)
        {
            return false;
        }
        for (var i = 0; i < pages; i++)
        {
            if ((residency[i] & 1) == 0)
            {
                return false;
            }
        }
        return true;
    }

    private static unsafe bool Collapse(long start, long length, out int errno)
    {
        var ok = madvise((void*)start, (nuint)length, MadvCollapse) == 0;
        errno = ok ? 0 : Marshal.GetLastPInvokeError();
        return ok;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int madvise(void* address, nuint length, int advice);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int mincore(void* address, nuint length, byte* residency);
}

/// <summary>The address ranges the process had mapped at one moment.</summary>
internal sealed class MappingSnapshot(List<(long Start, long End)> ranges)
{
    public IReadOnlyList<(long Start, long End)> Ranges { get; } = ranges;
}

/// <summary>What <see cref="TransparentHugePages.CollapseMappedSince"/> did: bytes now on huge pages, bytes the kernel
/// refused (with its first reason).</summary>
internal readonly record struct HugePageOutcome(long CollapsedBytes, long FailedBytes, string? Error);
