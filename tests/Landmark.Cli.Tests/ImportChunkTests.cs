using Xunit;

namespace Landmark.Cli.Tests;

/// <summary>How <c>landmark import</c> splits a dataset for hashing and uploading: a small first chunk so the platform
/// starts at once, doubling up to 64 files.</summary>
public class ImportChunkTests
{
    [Fact]
    public void Chunks_start_at_8_files_and_double_up_to_64()
    {
        var sizes = DatasetImporter.Chunks(747).Select(c => c.Length).ToList();

        Assert.Equal([8, 16, 32, 64, 64, 64], sizes.Take(6));
        Assert.Equal(747 - 8 - 16 - 32 - (64 * 10), sizes[^1]);
        Assert.Equal(14, sizes.Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(747)]
    public void Every_file_is_in_exactly_one_chunk_in_order(int count)
    {
        var indices = DatasetImporter.Chunks(count).SelectMany(c => c).ToList();

        Assert.Equal(Enumerable.Range(0, count), indices);
    }
}
