using System.ComponentModel.DataAnnotations;
using Landmark.Onnx;

namespace Landmark.Embedding;

/// <summary>Bound from <c>Landmark:Embedder</c>.</summary>
public sealed class EmbedderOptions
{
    public const string SectionName = "Landmark:Embedder";

    /// <summary>Images per ONNX Runtime call.</summary>
    [Range(1, 1024)]
    public int MaxBatchSize { get; set; } = 16;

    /// <summary>How long the first request of a batch waits for company: requests still being decoded. A request with
    /// none behind it runs at once.</summary>
    [Range(0, 1000)]
    public int MaxBatchDelayMs { get; set; } = 5;

    /// <summary>ONNX Runtime intra-op threads (0 = one per core).</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

    /// <summary>Model instances for bulk work (gallery import, re-embedding), each running its own batches side by side on
    /// <see cref="BulkStreamThreads"/> threads: ONNX Runtime's throughput mode, the "streams" of OpenVINO. On cores shared
    /// with decoding and storage, one multi-threaded run waits at every layer for its slowest thread; single-threaded
    /// instances keep each core busy instead (measured on 2 cores with one of them taken: 33.8 images/s against 25.8).
    /// 0 = automatic: one per core, at most 4, on CPU; with CUDA, bulk work shares the GPU session. Created at the first
    /// bulk request. Queries always run on the main session (<see cref="IntraOpThreads"/>), which keeps their latency.</summary>
    [Range(0, 64)]
    public int BulkStreams { get; set; }

    /// <summary>Intra-op threads of each bulk instance (0 = the cores divided among <see cref="BulkStreams"/>).</summary>
    [Range(0, 256)]
    public int BulkStreamThreads { get; set; }

    /// <summary>Bulk instances in use: <see cref="BulkStreams"/>, or its automatic value.</summary>
    public int EffectiveBulkStreams => BulkStreams > 0 ? BulkStreams : UseCuda ? 1 : Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>Intra-op threads of each bulk instance: <see cref="BulkStreamThreads"/>, or its automatic value.</summary>
    public int EffectiveBulkStreamThreads => BulkStreamThreads > 0 ? BulkStreamThreads : Math.Max(1, Environment.ProcessorCount / EffectiveBulkStreams);

    /// <summary>Images per bulk model run: <see cref="MaxBatchSize"/> shared among the bulk instances, so that the
    /// messages in flight feed all of them rather than one.</summary>
    public int BulkBatchSize => Math.Max(1, MaxBatchSize / EffectiveBulkStreams);

    /// <summary>Requests the embedder holds at once (decoding, queued or in a batch); beyond it new ones fail fast with
    /// RESOURCE_EXHAUSTED. Sized to a few batches' worth: at 40 images/s, 64 requests wait at most about 1.6 s.</summary>
    [Range(1, 100_000)]
    public int MaxQueuedRequests { get; set; } = 64;

    /// <summary>Images decoded at once (on the callers' threads, overlapping the model's run).</summary>
    [Range(1, 256)]
    public int DecodeParallelism { get; set; } = Environment.ProcessorCount;

    /// <summary>How often the embedder re-reads the registry's live pointer and switches its query model when it
    /// changed (0 = never): the safety net behind the <c>ModelActivated</c> event, e.g. for a replica that was down.</summary>
    [Range(0, 86400)]
    public int LiveModelPollSeconds { get; set; } = 30;

    /// <summary>A model kept for a roll-out (not the live one) is unloaded after this long without a request.</summary>
    [Range(1, 86400)]
    public int IdleModelSeconds { get; set; } = 120;

    /// <summary>The model a fresh registry makes live: <c>imagenet-resnet18</c> (the ImageNet-trained ResNet-18 shipped with the
    /// build, GeM-pooled; the default) or <c>baseline</c> (the training-free descriptor: fast, far less accurate).</summary>
    [RegularExpression("^(imagenet-resnet18|baseline)$")]
    public string DefaultModel { get; set; } = DefaultModels.ImageNetResNet18;

    /// <summary>Input side of the default pretrained model (a multiple of 32).</summary>
    [Range(64, 1024)]
    public int DefaultModelInputSize { get; set; } = 224;

    /// <summary>Pooling of the default pretrained model: <c>GeM</c> or <c>Average</c>.</summary>
    public PretrainedPooling DefaultModelPooling { get; set; } = PretrainedPooling.GeM;

    /// <summary>Test-time augmentation: every image is embedded as is and mirrored, and the two embeddings averaged
    /// (twice the compute). Applies to gallery and query images alike.</summary>
    public bool FlipTestTimeAugmentation { get; set; }

    /// <summary>Use the CUDA execution provider (GPU images built with -p:UseGpu=true).</summary>
    public bool UseCuda { get; set; }
}
