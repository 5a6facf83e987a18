using Landmark.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary>The record file read back as it was written: files larger than the replay's read block, damage that straddles
/// a block boundary, vectors and payloads intact, repeated payload strings shared.</summary>
public sealed class RecordFileTests : IDisposable
{
    private const int Dimension = 512;
    private readonly TempDirectory _dir = TestPaths.CreateTempDirectory("landmark-records");

    private string FilePath => Path.Combine(_dir.Path, "records.bin");

    /// <summary>Writes <paramref name="count"/> upserts (≈ 2 KiB each) and returns each record's start offset.</summary>
    private List<long> Write(int count)
    {
        var offsets = new List<long>(count);
        using var file = File.Create(FilePath);
        RecordFile.WriteHeader(file);
        for (var i = 0; i < count; i++)
        {
            offsets.Add(file.Position);
            RecordFile.WriteUpsert(file, $"img-{i}", VectorOf(i), new Dictionary<string, string>
            {
                [PayloadKeys.ImageId] = $"img-{i}",
                [PayloadKeys.LandmarkId] = (i % 7).ToString(),
                [PayloadKeys.Role] = "landmark",
            });
        }
        return offsets;
    }

    private static float[] VectorOf(int i) => Enumerable.Range(0, Dimension).Select(j => (float)Math.Sin(i * 0.37 + j)).ToArray();

    private List<(string Id, float[] Vector, Dictionary<string, string> Payload)> Replay(out long valid)
    {
        var records = new List<(string, float[], Dictionary<string, string>)>();
        valid = RecordFile.Replay(FilePath, r => records.Add((r.Id, r.Vector.ToArray(), r.Payload!)), NullLogger.Instance);
        return records;
    }

    [Fact]
    public void A_file_larger_than_the_read_block_replays_every_record_with_its_vector_and_payload()
    {
        Write(5000); // ≈ 10 MiB: more than two 4 MiB read blocks

        var records = Replay(out var valid);

        Assert.Equal(new FileInfo(FilePath).Length, valid);
        Assert.Equal(5000, records.Count);
        for (var i = 0; i < records.Count; i += 499)
        {
            Assert.Equal($"img-{i}", records[i].Id);
            Assert.Equal(VectorOf(i), records[i].Vector);
            Assert.Equal((i % 7).ToString(), records[i].Payload[PayloadKeys.LandmarkId]);
            Assert.Equal($"img-{i}", records[i].Payload[PayloadKeys.ImageId]);
        }
        // Keys and repeated values are one string each, not one per record.
        Assert.Same(records[0].Payload[PayloadKeys.Role], records[4999].Payload[PayloadKeys.Role]);
        Assert.Same(records[3].Payload[PayloadKeys.LandmarkId], records[3 + 7 * 600].Payload[PayloadKeys.LandmarkId]);
        Assert.Same(records[0].Payload.Keys.First(), records[4999].Payload.Keys.First());
    }

    [Fact]
    public void A_damaged_record_across_a_read_block_boundary_loses_only_itself()
    {
        var offsets = Write(5000);
        const long block = 4L * 1024 * 1024;
        var straddling = offsets.FindIndex(o => o < block && o + 2100 > block); // the record the first block ends inside
        Assert.True(straddling > 0);
        using (var file = new FileStream(FilePath, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = block + 10; // inside its body, past the boundary
            var b = file.ReadByte();
            file.Position--;
            file.WriteByte((byte)(b ^ 0x5A));
        }

        var records = Replay(out var valid);

        Assert.Equal(new FileInfo(FilePath).Length, valid);
        Assert.Equal(4999, records.Count);
        Assert.DoesNotContain(records, r => r.Id == $"img-{straddling}");
        Assert.Equal($"img-{straddling + 1}", records[straddling].Id);
        Assert.Equal(VectorOf(4999), records[^1].Vector);
        Assert.Single(Directory.GetFiles(_dir.Path, "records.bin.corrupt-*"));
    }

    [Fact]
    public void A_torn_last_record_is_left_out_and_the_valid_length_ends_before_it()
    {
        var offsets = Write(2500);
        using (var file = new FileStream(FilePath, FileMode.Open, FileAccess.ReadWrite))
        {
            file.SetLength(offsets[^1] + 100);
        }

        var records = Replay(out var valid);

        Assert.Equal(2499, records.Count);
        Assert.Equal(offsets[^1], valid);
    }

    public void Dispose() => _dir.Dispose();
}
