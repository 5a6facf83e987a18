using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Grpc.Core;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Messages;
using Landmark.Imaging;
using Landmark.Recognition;
using Landmark.Storage;
using Landmark.Training;

namespace Landmark.Trainer;

/// <summary>The labelled gallery images a job can train on (landmark role, indexed), from the ingest catalog, with the
/// perceptual hash of the stored image once it has been computed (<see cref="TrainingData.WithPerceptualHashesAsync"/>).</summary>
public sealed record GalleryImage(string ImageId, string LandmarkId, ulong? PerceptualHash = null);

/// <summary>
/// Training data from the platform itself: the ingest catalog lists the labelled gallery images, the object store holds
/// their preprocessed <c>embed</c> variants (decoded once, in parallel, into memory). Class curation and the stratified
/// train/validation split are decided here, once per job.
/// </summary>
public sealed class TrainingData(IngestService.IngestServiceClient ingest, IObjectStore store, ImagePipeline imaging, ILogger<TrainingData> logger)
{
    /// <summary>The indexed non-landmark (distractor) gallery images.</summary>
    public async Task<IReadOnlyList<string>> ListNonLandmarksAsync(CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        await foreach (var record in ListIndexedAsync(ImageRole.NonLandmark, cancellationToken))
        {
            ids.Add(record.ImageId);
        }
        return ids;
    }

    public async Task<IReadOnlyList<GalleryImage>> ListGalleryAsync(CancellationToken cancellationToken)
    {
        var images = new List<GalleryImage>();
        await foreach (var record in ListIndexedAsync(ImageRole.Landmark, cancellationToken))
        {
            if (!string.IsNullOrEmpty(record.LandmarkId))
            {
                images.Add(new GalleryImage(record.ImageId, record.LandmarkId));
            }
        }
        return images;
    }

    /// <summary>The gallery with the perceptual hash of each image's stored variant (null where it cannot be read).</summary>
    public async Task<IReadOnlyList<GalleryImage>> WithPerceptualHashesAsync(IReadOnlyList<GalleryImage> gallery, int threads, CancellationToken cancellationToken)
    {
        var hashed = new GalleryImage[gallery.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, gallery.Count), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var bytes = await ReadVariantAsync(gallery[i].ImageId, ct);
                ulong? hash = null;
                try
                {
                    hash = bytes is null ? null : PerceptualHash.Compute(imaging, bytes);
                }
                catch (ImageRejectedException ex)
                {
                    logger.LogWarning("Variant of {ImageId} cannot be decoded ({Reason}); it is split without near-duplicate grouping", gallery[i].ImageId, ex.Message);
                }
                hashed[i] = gallery[i] with { PerceptualHash = hash };
            });
        return hashed;
    }

    /// <summary>Every indexed catalog record with this role, page after page.</summary>
    private async IAsyncEnumerable<ImageRecord> ListIndexedAsync(ImageRole role, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListImagesRequest { Role = role, Status = ImageStatus.Indexed, PageSize = Paging.MaxPageSize };
        do
        {
            var page = await ingest.ListImagesAsync(request, cancellationToken: cancellationToken);
            foreach (var record in page.Images)
            {
                yield return record;
            }
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
    }

    /// <summary>Class curation (at least <see cref="TrainingOptions.MinImagesPerClass"/> images, the
    /// <see cref="TrainingOptions.MaxClasses"/> largest classes) and a stratified split: each class gives
    /// <see cref="TrainingOptions.ValidationFraction"/> of its images (at least one when it has three or more) to validation,
    /// chosen by a seeded shuffle. Near-duplicates (perceptual hashes at most
    /// <see cref="TrainingOptions.NearDuplicateDistance"/> bits apart) stay together on one side, so no held-out image
    /// has a copy of itself among the training images — as in a real query set, and as the dataset's own splits are
    /// built.</summary>
    public static (List<string> Classes, List<TrainingImage> Train, List<TrainingImage> Validation) Split(IReadOnlyList<GalleryImage> gallery, TrainingOptions options)
    {
        var groups = gallery.GroupBy(g => g.LandmarkId, StringComparer.Ordinal)
            .Where(g => g.Count() >= options.MinImagesPerClass)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .ToList();
        if (options.MaxClasses > 0)
        {
            groups = groups.Take(options.MaxClasses).ToList();
        }
        groups = groups.OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        var classes = groups.Select(g => g.Key).ToList();
        var random = new Random(options.Seed);
        var train = new List<TrainingImage>();
        var validation = new List<TrainingImage>();
        for (var label = 0; label < groups.Count; label++)
        {
            var members = groups[label].OrderBy(g => g.ImageId, StringComparer.Ordinal).ToArray();
            var clusters = NearDuplicateClusters(members, options.NearDuplicateDistance);
            random.Shuffle(clusters);
            var held = members.Length >= 3 ? Math.Max(options.ValidationFraction > 0 ? 1 : 0, (int)Math.Round(members.Length * options.ValidationFraction)) : 0;
            var heldCount = 0;
            foreach (var cluster in clusters)
            {
                var toValidation = heldCount + cluster.Length <= held;
                heldCount += toValidation ? cluster.Length : 0;
                (toValidation ? validation : train).AddRange(cluster.Select(id => new TrainingImage(id, label)));
            }
        }
        return (classes, train, validation);
    }

    /// <summary>The images of one class in groups of near-duplicates (connected by perceptual hashes at most
    /// <paramref name="maxDistance"/> bits apart; an image without a hash is its own group). Each group lists its
    /// images in id order; the groups are in the order of their first image.</summary>
    public static string[][] NearDuplicateClusters(IReadOnlyList<GalleryImage> members, int maxDistance)
    {
        var parent = Enumerable.Range(0, members.Count).ToArray();
        int Find(int i) => parent[i] == i ? i : parent[i] = Find(parent[i]);
        for (var i = 0; i < members.Count; i++)
        {
            for (var j = i + 1; j < members.Count; j++)
            {
                if (members[i].PerceptualHash is { } a && members[j].PerceptualHash is { } b && PerceptualHash.Distance(a, b) <= maxDistance)
                {
                    parent[Find(j)] = Find(i);
                }
            }
        }
        return Enumerable.Range(0, members.Count).GroupBy(Find)
            .Select(g => g.Select(i => members[i].ImageId).Order(StringComparer.Ordinal).ToArray())
            .OrderBy(c => c[0], StringComparer.Ordinal)
            .ToArray();
    }

    /// <summary>Decodes the <c>embed</c> variant of each image at <paramref name="size"/>² (CHW, [0,1]), in parallel.
    /// Images whose variant cannot be read or decoded are left out and logged.</summary>
    public async Task<IReadOnlyList<TrainingSample>> LoadAsync(IReadOnlyList<TrainingImage> images, int size, int threads, CancellationToken cancellationToken) =>
        (await LoadAsync(images, [size], threads, cancellationToken))[0];

    /// <summary>As the single-size load, at each of <paramref name="sizes"/> from one read of each variant; the lists
    /// hold the same images in the same order.</summary>
    public async Task<IReadOnlyList<TrainingSample>[]> LoadAsync(IReadOnlyList<TrainingImage> images, IReadOnlyList<int> sizes, int threads, CancellationToken cancellationToken)
    {
        var samples = new ConcurrentDictionary<int, TrainingSample[]>();
        await Parallel.ForEachAsync(Enumerable.Range(0, images.Count), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var image = images[i];
                var bytes = await ReadVariantAsync(image.ImageId, ct);
                if (bytes is null)
                {
                    logger.LogWarning("Image {ImageId} has no stored variant; left out of training", image.ImageId);
                    return;
                }
                try
                {
                    samples[i] = sizes.Select(size => new TrainingSample(imaging.ToTensor(bytes, size), size, image.Label)).ToArray();
                }
                catch (ImageRejectedException ex)
                {
                    logger.LogWarning("Variant of {ImageId} cannot be decoded ({Reason}); left out of training", image.ImageId, ex.Message);
                }
            });
        var ordered = samples.OrderBy(kv => kv.Key).Select(kv => kv.Value).ToList();
        return sizes.Select((_, k) => (IReadOnlyList<TrainingSample>)ordered.Select(perSize => perSize[k]).ToList()).ToArray();
    }

    private async Task<byte[]?> ReadVariantAsync(string imageId, CancellationToken cancellationToken)
    {
        var manifest = await store.TryGetBytesAsync(Buckets.Variants, $"{imageId}/manifest.json", cancellationToken);
        if (manifest is null)
        {
            return null;
        }
        // Written by preprocess with System.Text.Json's defaults.
        var variants = JsonSerializer.Deserialize<VariantList>(manifest)?.Variants ?? [];
        var key = VariantSpec.ChooseEmbed(variants, v => v.Name, v => (long)v.Width * v.Height)?.ObjectKey;
        return key is null ? null : await store.TryGetBytesAsync(Buckets.Variants, key, cancellationToken);
    }

    private sealed record VariantList(IReadOnlyList<StoredVariant> Variants);

    /// <summary>Validation GAP: each held-out image queries the training images (kNN voting as the scorer does).</summary>
    public static ValidationReport Validate(float[][] queries, IReadOnlyList<int> queryLabels, float[][] gallery, IReadOnlyList<int> galleryLabels, ScorerOptions scorerOptions)
    {
        static string Label(int label) => label.ToString(CultureInfo.InvariantCulture);
        var gap = ScorerCalibrator.Evaluate(queries.Select((v, i) => (v, (string?)Label(queryLabels[i]))).ToList(),
            gallery.Select((v, i) => (v, Label(galleryLabels[i]))).ToList(), [], scorerOptions);
        return new ValidationReport(gap.Gap, gap.Accuracy);
    }
}
