using System.ComponentModel.DataAnnotations;

namespace Landmark.Ingest;

/// <summary>Bound from <c>Landmark:Ingest</c>.</summary>
public sealed class IngestOptions
{
    public const string SectionName = "Landmark:Ingest";

    /// <summary>Files read and submitted at once by a dataset import.</summary>
    [Range(1, 256)]
    public int ImportParallelism { get; set; } = 4;

    /// <summary>Directories the server-side <c>ImportDataset</c> may read from (it is off while the list is empty).
    /// A dataset and every file it reads must lie inside one of them after symbolic links are resolved. Uploads from
    /// the client (<c>landmark import</c>) do not need this.</summary>
    public List<string> ImportRoots { get; set; } = [];

    /// <summary>Largest file a server-side import reads (checked before reading).</summary>
    [Range(1, int.MaxValue)]
    public long MaxImportFileBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>At start-up, re-publish images whose pipeline never finished (e.g. after a crash of the
    /// single-process mode, whose in-memory messages are lost). Consumers are idempotent, so this is safe.</summary>
    public bool ResumePendingOnStart { get; set; } = true;

    [Range(1, 10_000)]
    public int MaxFileNameLength { get; set; } = 512;

    /// <summary>How often a model roll-out in progress is checked against storage (several ingest replicas each see
    /// part of the events) and a completed one that is not live yet is announced again.</summary>
    [Range(1, 3600)]
    public int RolloutReconcileSeconds { get; set; } = 10;
}
