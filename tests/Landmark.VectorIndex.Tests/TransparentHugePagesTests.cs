using System.Globalization;
using Landmark.Testing;
using System.Runtime.InteropServices;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary>
/// The graph's memory moved onto 2 MiB huge pages: which mappings count as new, that fully resident memory is collapsed
/// while partly touched memory is left as it is (nothing grows), and that a graph searches the same after the move.
/// </summary>
public sealed partial class TransparentHugePagesTests
{
    private const long MiB = 1 << 20;
    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 2, MapAnonymous = 0x20;

    [Fact]
    public void Maps_lines_parse_into_every_range_or_only_private_anonymous_read_write_ones()
    {
        string[] maps =
        [
            "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon",
            "00e03000-00e24000 rw-p 00000000 00:00 0           [heap]",
            "7f0000000000-7f0004000000 rw-p 00000000 00:00 0",
            "7f0004000000-7f0008000000 ---p 00000000 00:00 0",
            "7f0008000000-7f000a000000 rw-p 00000000 00:00 0   [anon:usearch]",
            "7f000a000000-7f000b000000 rw-s 00000000 00:05 1234 /dev/shm/x",
            "7ffc0000000-7ffc0021000 rw-p 00000000 00:00 0     [stack]",
        ];

        var anonymous = TransparentHugePages.ParseMappings(maps, anonymousReadWriteOnly: true);
        var every = TransparentHugePages.ParseMappings(maps, anonymousReadWriteOnly: false);

        Assert.Equal([(0x7f0000000000L, 0x7f0004000000L), (0x7f0008000000L, 0x7f000a000000L)], anonymous);
        Assert.Equal(maps.Length, every.Count);
        Assert.Equal(every.OrderBy(r => r.Start).ToList(), every);
    }

    [Fact]
    public void Only_addresses_not_mapped_before_count_as_new()
    {
        List<(long, long)> before = [(100, 200), (300, 400), (450, 460)];
        List<(long, long)> after = [(0, 50), (100, 250), (280, 500), (600, 700)];

        var fresh = TransparentHugePages.Subtract(after, before);

        Assert.Equal([(0L, 50L), (200L, 250L), (280L, 300L), (400L, 450L), (460L, 500L), (600L, 700L)], fresh);
        Assert.Empty(TransparentHugePages.Subtract(before, before));
    }

    [Fact]
    public unsafe void Fully_touched_new_memory_moves_onto_huge_pages_and_partly_touched_memory_stays_as_it_is()
    {
        const long size = 64 * MiB, guard = 2 * MiB;
        var before = TransparentHugePages.Snapshot();
        // One new mapping split by protection, so the kernel keeps the two test regions apart from each other and from
        // any neighbour: guard | touched | guard | sparse | guard.
        var mapped = (byte*)mmap(null, (nuint)(2 * size + 3 * guard), ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        Assert.NotEqual(-1, (long)mapped);
        var touched = mapped + guard;
        var sparse = touched + size + guard;
        try
        {
            Assert.Equal(0, mprotect(mapped, (nuint)guard, 0));
            Assert.Equal(0, mprotect(touched + size, (nuint)guard, 0));
            Assert.Equal(0, mprotect(sparse + size, (nuint)guard, 0));
            new Span<byte>(touched, (int)size).Fill(7);
            for (long offset = 0; offset < size; offset += 2 * MiB)
            {
                sparse[offset] = 7; // one 4 KiB page in every 2 MiB
            }
            var sparseResident = Smaps((long)sparse).Rss;

            var outcome = TransparentHugePages.CollapseMappedSince(before, out _);

            if (!TransparentHugePages.Available)
            {
                Assert.Equal(0, outcome.CollapsedBytes);
                Assert.NotNull(outcome.Error);
                return;
            }
            // Tests running beside this one may map memory too: the figures below are about this mapping only.
            Assert.True(outcome.CollapsedBytes >= size - 2 * MiB, $"collapsed {outcome.CollapsedBytes >> 20} MiB");
            Assert.True(Smaps((long)touched).AnonHugePages >= size - 2 * MiB, $"{Smaps((long)touched).AnonHugePages >> 20} MiB on huge pages");
            Assert.Equal(0, Smaps((long)sparse).AnonHugePages);
            Assert.Equal(sparseResident, Smaps((long)sparse).Rss);
            Assert.True(new ReadOnlySpan<byte>(touched, (int)size).IndexOfAnyExcept((byte)7) < 0, "the collapsed memory kept its contents");
        }
        finally
        {
            Assert.Equal(0, munmap(mapped, (nuint)(2 * size + 3 * guard)));
        }
    }

    [Fact]
    public void A_graph_searches_the_same_after_its_memory_moved_onto_huge_pages()
    {
        const int dimension = 512, count = 40_000;
        var random = new Random(5);
        var vectors = Enumerable.Range(0, count).Select(_ => Unit(random, dimension)).ToList();
        using var graph = HnswGraph.Create(dimension, new HnswOptions { Quantization = HnswQuantization.F32, M = 8, EfConstruction = 16 });
        graph.Reserve(count);
        Parallel.For(0, count, i => graph.Add((ulong)i, vectors[i]));
        var queries = Enumerable.Range(0, 50).Select(_ => Unit(random, dimension)).ToList();
        var found = queries.Select(q => Search(graph, q)).ToList();

        var outcome = graph.UseHugePages();

        if (TransparentHugePages.Available)
        {
            // 40,000 float32 vectors of 512 dimensions: 78 MiB in arenas that double in size (the largest alone 32 MiB or more).
            Assert.True(outcome.CollapsedBytes >= 32 * MiB, $"collapsed {outcome.CollapsedBytes >> 20} MiB ({outcome.Error})");
        }
        Assert.Equal(found, queries.Select(q => Search(graph, q)).ToList());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_collection_opened_from_disk_moves_its_graph_onto_huge_pages_unless_told_not_to(bool hugePages)
    {
        using var root = TestPaths.CreateTempDirectory("landmark-thp");
        var random = new Random(7);
        var points = Enumerable.Range(0, 40_000)
            .Select(i => new VectorPoint($"p{i}", Unit(random, 512), new Dictionary<string, string>())).ToList();
        EmbeddedVectorIndex Open() => new(new EmbeddedIndexOptions
        {
            Path = root.Path,
            Search = EmbeddedSearchMode.Hnsw,
            Hnsw = new HnswOptions { Quantization = HnswQuantization.F32, M = 8, EfConstruction = 16, HugePages = hugePages },
        });
        var queries = points.Take(20).Select(p => p.Vector).ToList();
        string[] before;
        using (var index = Open())
        {
            await index.EnsureCollectionAsync("gallery", 512);
            await index.UpsertAsync("gallery", points);
            await index.CompactAsync("gallery"); // saves the graph beside the snapshot
            before = await TopIdsAsync(index, queries);
        }

        using var reopened = Open();
        var info = reopened.Describe("gallery");

        Assert.Equal(40_000, info.Points);
        if (hugePages && TransparentHugePages.Available)
        {
            Assert.True(info.HugePageBytes >= 32 * MiB, $"{info.HugePageBytes >> 20} MiB on huge pages");
        }
        else
        {
            Assert.Equal(0, info.HugePageBytes);
        }
        Assert.Equal(before, await TopIdsAsync(reopened, queries)); // the same graph, searched the same way
    }

    private static async Task<string[]> TopIdsAsync(EmbeddedVectorIndex index, List<float[]> queries) =>
        [.. (await index.SearchAsync("gallery", queries, 10)).Select(hits => string.Join(',', hits.Select(h => h.Id)))];

    private static string Search(HnswGraph graph, float[] query)
    {
        var keys = new ulong[10];
        var found = graph.Search(query, keys);
        return string.Join(',', keys.Take(found));
    }

    private static float[] Unit(Random random, int dimension)
    {
        var v = Enumerable.Range(0, dimension).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }

    /// <summary>Rss and AnonHugePages (bytes) of the mapping that holds <paramref name="address"/>.</summary>
    private static (long Rss, long AnonHugePages) Smaps(long address)
    {
        long rss = 0, huge = 0;
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-');
            var space = line.IndexOf(' ');
            if (dash > 0 && space > dash && long.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start)
                && long.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end))
            {
                if (inside)
                {
                    break;
                }
                inside = start <= address && address < end;
            }
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                rss = Kilobytes(line);
            }
            else if (inside && line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
            {
                huge = Kilobytes(line);
            }
        }
        return (rss, huge);

        static long Kilobytes(string line) => 1024 * long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial void* mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int mprotect(void* address, nuint length, int protection);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int munmap(void* address, nuint length);
}
