using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Landmark.Imaging;

/// <summary>
/// Validates, decodes, orients and resizes images with SkiaSharp. Thread-safe: the pipeline holds only its options and
/// every call owns (and disposes) its native objects.
/// <para>
/// Work is proportionate to the output. The encoded bytes are pinned and handed to the codec without a copy; the size
/// declared by the header is checked before anything is decoded; JPEGs are decoded at the smallest DCT scale (n/8) and
/// WebPs at the smallest size that still covers the target, so a 5184×3456 photo turned into a 512-pixel variant
/// never materialises its 18-megapixel bitmap; the EXIF orientation is folded into the single resampling draw.
/// </para>
/// </summary>
public sealed class ImagePipeline
{
    private readonly ImagingOptions _options;

    /// <summary>A pipeline with a budget of its own (<see cref="ImagingOptions.DecodeBudgetMegapixels"/>); in a host,
    /// every pipeline shares the one registered by <c>AddImaging</c>.</summary>
    public ImagePipeline(ImagingOptions options) : this(options, null)
    {
    }

    public ImagePipeline(ImagingOptions options, DecodeBudget? budget)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        Budget = budget ?? DecodeBudget.FromOptions(options);
    }

    public ImagePipeline(IOptions<ImagingOptions> options) : this(options.Value)
    {
    }

    public ImagingOptions Options => _options;

    /// <summary>The decode memory every full decode acquires before it allocates.</summary>
    public DecodeBudget Budget { get; }

    /// <summary>Cheap checks from the bytes and the header only: nothing is decoded, nothing is copied.</summary>
    /// <exception cref="ImageRejectedException">empty, too_many_bytes, unsupported_format, corrupt, truncated (header
    /// cut short), too_large, too_small.</exception>
    public unsafe ImageHeader Inspect(ReadOnlySpan<byte> data)
    {
        var format = CheckBytes(data);
        fixed (byte* pointer = data)
        {
            using var source = EncodedSource.Open(this, data, (IntPtr)pointer, format);
            return source.Header;
        }
    }

    /// <summary>Full validation and decoding, EXIF orientation applied, every configured variant resized once (never
    /// upscaled, aspect ratio kept) and encoded as JPEG; alpha is composited over white. The variants come back in the
    /// order of <see cref="ImagingOptions.Variants"/>. Blocks while the <see cref="Budget"/> is exhausted.</summary>
    /// <exception cref="ImageRejectedException">Anything <see cref="Inspect"/> rejects, plus truncated or corrupt image
    /// data, and too_large when decoding would need more memory than the whole budget.</exception>
    public PreparedImage Prepare(ReadOnlyMemory<byte> data) => Prepare(data, null, CancellationToken.None);

    /// <summary>As <see cref="Prepare(ReadOnlyMemory{byte})"/>, waiting for the decode budget without holding a thread.</summary>
    public async Task<PreparedImage> PrepareAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        var cost = EstimatePrepareCost(data);
        using var lease = await Budget.AcquireAsync(cost, cancellationToken).ConfigureAwait(false);
        return Prepare(data, lease, cancellationToken);
    }

    /// <summary>The decode memory (4-byte pixels) <see cref="Prepare(ReadOnlyMemory{byte})"/> would acquire.</summary>
    /// <exception cref="ImageRejectedException">As <see cref="Prepare(ReadOnlyMemory{byte})"/>, for what the header shows.</exception>
    public unsafe long EstimatePrepareCost(ReadOnlyMemory<byte> data)
    {
        var format = CheckBytes(data.Span);
        using var pin = data.Pin();
        using var source = EncodedSource.Open(this, data.Span, (IntPtr)pin.Pointer, format);
        var plan = PlanVariants(source.Header);
        return CheckCost(source.Plan(data, plan.DecodeTargets).Cost);
    }

    private unsafe PreparedImage Prepare(ReadOnlyMemory<byte> data, DecodeBudget.Lease? held, CancellationToken cancellationToken)
    {
        var format = CheckBytes(data.Span);
        using var pin = data.Pin();
        using var source = EncodedSource.Open(this, data.Span, (IntPtr)pin.Pointer, format);
        var header = source.Header;
        var specs = _options.Variants;
        var plan = PlanVariants(header);
        var decodePlan = source.Plan(data, plan.DecodeTargets);
        var cost = CheckCost(decodePlan.Cost);
        using var lease = held is not null && held.Weight >= cost ? null : Budget.Acquire(cost, cancellationToken);

        // Largest first: a smaller variant is resampled from the smallest variant already made that is at least twice
        // its size (far fewer source pixels for the thumbnail of a large PNG); the others come straight from the
        // decoder's rows, all in the same pass.
        var results = new EncodedVariant[specs.Count];
        var rendered = new SKBitmap?[specs.Count];
        var decoded = source.Decode(data, decodePlan, plan.DecodeTargets);
        try
        {
            for (var k = 0; k < plan.DecodeIndices.Count; k++)
            {
                var stored = decoded[k]!;
                decoded[k] = null; // Orient owns it now
                rendered[plan.DecodeIndices[k]] = Orient(stored, header.Orientation);
            }
            foreach (var index in plan.Order)
            {
                var (w, h) = plan.Sizes[index];
                if (plan.From[index] is var from and >= 0)
                {
                    rendered[index] = Resize(rendered[from]!, w, h);
                }
                results[index] = new EncodedVariant(specs[index].Name, EncodeJpeg(rendered[index]!, specs[index].JpegQuality), w, h, "image/jpeg");
            }
        }
        finally
        {
            foreach (var bitmap in decoded.Concat(rendered))
            {
                bitmap?.Dispose();
            }
        }
        return new PreparedImage(header, results);
    }

    /// <summary>Which variant is made from what: sizes in display axes, the order (largest first), the variant each is
    /// resampled from (-1: the decoder's rows) and the stored-axes sizes the decoder must deliver.</summary>
    private sealed record VariantPlan((int W, int H)[] Sizes, int[] Order, int[] From, List<int> DecodeIndices, (int W, int H)[] DecodeTargets);

    private VariantPlan PlanVariants(ImageHeader header)
    {
        var specs = _options.Variants;
        var sizes = specs.Select(v => Fit(header.OrientedWidth, header.OrientedHeight, v.MaxSide)).ToArray();
        var order = Enumerable.Range(0, specs.Count).OrderByDescending(i => (long)sizes[i].W * sizes[i].H).ToArray();
        var from = new int[specs.Count];
        var made = new List<int>();
        var direct = new List<int>();
        foreach (var index in order)
        {
            var (w, h) = sizes[index];
            var source = made.Where(m => sizes[m].W >= 2 * w && sizes[m].H >= 2 * h).DefaultIfEmpty(-1).MinBy(m => m < 0 ? long.MaxValue : (long)sizes[m].W * sizes[m].H);
            from[index] = source;
            if (source < 0)
            {
                direct.Add(index);
            }
            made.Add(index);
        }
        var targets = direct.Select(i => header.SwapsAxes ? (sizes[i].H, sizes[i].W) : sizes[i]).ToArray();
        return new VariantPlan(sizes, order, from, direct, targets);
    }

    private long CheckCost(long cost)
    {
        if (cost > Budget.Capacity)
        {
            throw new ImageRejectedException(RejectionCodes.TooLarge,
                $"decoding this image needs about {Megapixels(cost)} megapixels of memory, more than the whole decode budget of {Megapixels(Budget.Capacity)}");
        }
        return cost;

        static string Megapixels(long pixels) => (pixels / 1e6).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Decodes, orients and resizes (squashes) to <paramref name="size"/>×<paramref name="size"/>; RGB, CHW,
    /// values in [0, 1]; alpha composited over white. Length 3·size².</summary>
    /// <exception cref="ImageRejectedException">As <see cref="Prepare"/>.</exception>
    public float[] ToTensor(ReadOnlyMemory<byte> data, int size)
    {
        CheckTensorSize(size);
        var tensor = new float[3 * size * size];
        ToTensor(data, size, tensor);
        return tensor;
    }

    /// <summary>As <see cref="ToTensor(ReadOnlyMemory{byte}, int)"/>, into the first 3·size² floats of
    /// <paramref name="destination"/> (a slice of a batch buffer). Channel c of pixel (x, y) is at c·size² + y·size + x.</summary>
    public unsafe void ToTensor(ReadOnlyMemory<byte> data, int size, Span<float> destination)
    {
        CheckTensorSize(size);
        var plane = size * size;
        if (destination.Length < 3 * plane)
        {
            throw new ArgumentException($"destination needs {3 * plane} floats, it has {destination.Length}", nameof(destination));
        }
        var format = CheckBytes(data.Span);
        using var pin = data.Pin();
        using var source = EncodedSource.Open(this, data.Span, (IntPtr)pin.Pointer, format);
        (int, int)[] targets = [(size, size)];
        var decodePlan = source.Plan(data, targets);
        using var lease = Budget.Acquire(CheckCost(decodePlan.Cost));
        var decoded = source.Decode(data, decodePlan, targets);
        using var square = Orient(decoded[0]!, source.Header.Orientation);

        ReadOnlySpan<byte> pixels = square.GetPixelSpan();
        var rowBytes = square.RowBytes;
        var r = destination[..plane];
        var g = destination.Slice(plane, plane);
        var b = destination.Slice(2 * plane, plane);
        const float scale = 1f / 255f;
        for (var y = 0; y < size; y++)
        {
            var row = pixels.Slice(y * rowBytes, 4 * size);
            var o = y * size;
            for (int x = 0, p = 0; x < size; x++, p += 4)
            {
                r[o + x] = row[p] * scale;
                g[o + x] = row[p + 1] * scale;
                b[o + x] = row[p + 2] * scale;
            }
        }
    }

    private static void CheckTensorSize(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, 8192);
    }

    /// <summary>Checks that need only the length and the first bytes: empty, too many bytes, unknown format.</summary>
    private ImageFormat CheckBytes(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            throw new ImageRejectedException(RejectionCodes.Empty, "the file has no bytes");
        }
        if (data.Length > _options.MaxBytes)
        {
            throw new ImageRejectedException(RejectionCodes.TooManyBytes, $"{data.Length} bytes exceed the limit of {_options.MaxBytes}");
        }
        var format = FormatSniffer.Sniff(data);
        if (format == ImageFormat.Unknown)
        {
            throw new ImageRejectedException(RejectionCodes.UnsupportedFormat,
                "not a recognised image format (JPEG, PNG, WebP, GIF, BMP, HEIC, AVIF)");
        }
        return format;
    }

    private void CheckSize(int w, int h)
    {
        if ((long)w * h > _options.MaxPixels)
        {
            throw new ImageRejectedException(RejectionCodes.TooLarge, $"{w}×{h} = {(long)w * h} pixels exceed the limit of {_options.MaxPixels}");
        }
        if (Math.Min(w, h) < _options.MinSide)
        {
            throw new ImageRejectedException(RejectionCodes.TooSmall, $"{w}×{h} is smaller than {_options.MinSide} pixels on a side");
        }
    }

    /// <summary>Truncated or corrupt, from the decoder's verdict and a walk over the container's structure: a decoder
    /// that ran out of data on a well-formed container saw a truncated file; one that found nonsense, or ran out of
    /// data on a broken container, saw a corrupt one.</summary>
    private static ImageRejectedException DecodeFailure(ReadOnlySpan<byte> data, ImageFormat format, SKCodecResult result, string stage)
    {
        var structure = HeaderReader.CheckStructure(data, format);
        var truncated = result == SKCodecResult.IncompleteInput
            ? structure.Status != ContainerStatus.Corrupt
            : structure.Status == ContainerStatus.Truncated;
        var detail = structure.Problem is { } problem ? $"{problem}; decoder {stage}: {result}" : $"decoder {stage}: {result}";
        return truncated
            ? new ImageRejectedException(RejectionCodes.Truncated, $"the {format} data ends before the image is complete ({detail})")
            : new ImageRejectedException(RejectionCodes.Corrupt, $"the {format} data is damaged ({detail})");
    }

    /// <summary>The decoder's output (stored axes, already at its final size) turned into display axes for the EXIF
    /// <paramref name="orientation"/> by an exact pixel copy; takes ownership of <paramref name="stored"/>.</summary>
    private static SKBitmap Orient(SKBitmap stored, int orientation)
    {
        if (orientation is < 2 or > 8)
        {
            return stored;
        }
        try
        {
            return OrientCopy(stored, orientation);
        }
        finally
        {
            stored.Dispose();
        }
    }

    private static unsafe SKBitmap Resize(SKBitmap source, int width, int height)
    {
        var target = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        try
        {
            var sourcePixels = new ReadOnlySpan<byte>((void*)source.GetPixels(), source.RowBytes * source.Height);
            var targetPixels = new Span<byte>((void*)target.GetPixels(), target.RowBytes * height);
            Resampler.Resize(sourcePixels, source.Width, source.Height, source.RowBytes, targetPixels, width, height, target.RowBytes);
            target.SetImmutable();
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>An exact copy of <paramref name="source"/> turned into display axes (nearest sampling on whole pixels).</summary>
    private static SKBitmap OrientCopy(SKBitmap source, int orientation)
    {
        var swap = orientation is >= 5 and <= 8;
        var (width, height) = swap ? (source.Height, source.Width) : (source.Width, source.Height);
        var target = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        try
        {
            using var canvas = new SKCanvas(target);
            canvas.Clear(SKColors.White);
            canvas.SetMatrix(OrientationMatrix(orientation, source.Width, source.Height));
            using var image = SKImage.FromBitmap(source); // shares the pixels: sources are immutable
            canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest));
            canvas.Flush();
            target.SetImmutable();
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    private static byte[] EncodeJpeg(SKBitmap bitmap, int quality)
    {
        using var pixmap = bitmap.PeekPixels();
        using var encoded = pixmap.Encode(new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore))
            ?? throw new InvalidOperationException("the JPEG encoder failed");
        return encoded.ToArray();
    }

    /// <summary>Maps stored pixel coordinates (w×h) to display coordinates for an EXIF orientation.</summary>
    private static SKMatrix OrientationMatrix(int orientation, int w, int h) => orientation switch
    {
        2 => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),   // mirrored
        3 => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1),  // 180°
        4 => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),   // flipped
        5 => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),    // transposed
        6 => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),   // 90° clockwise
        7 => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1),  // transversed
        8 => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),   // 90° counter-clockwise
        _ => SKMatrix.Identity,
    };

    /// <summary>The size whose longest side is at most <paramref name="maxSide"/>, same aspect ratio, never larger.</summary>
    internal static (int W, int H) Fit(int width, int height, int maxSide)
    {
        var longest = Math.Max(width, height);
        if (longest <= maxSide)
        {
            return (width, height);
        }
        var scale = (double)maxSide / longest;
        return width >= height
            ? (maxSide, Math.Clamp((int)Math.Round(height * scale), 1, maxSide))
            : (Math.Clamp((int)Math.Round(width * scale), 1, maxSide), maxSide);
    }

    /// <summary>How <see cref="EncodedSource.Decode"/> will run and what it holds (4-byte pixels).</summary>
    private sealed record DecodePlan(bool Streams, bool BottomUp, SKSizeI Size, bool Opaque, int StripRows, long Cost);

    /// <summary>An open codec over pinned bytes that it does not own or copy. Dispose before unpinning.</summary>
    private sealed class EncodedSource : IDisposable
    {
        private readonly SKCodec _codec;
        private PngRowReader? _pngRows;

        private EncodedSource(SKCodec codec, ImageHeader header)
        {
            _codec = codec;
            Header = header;
        }

        public ImageHeader Header { get; }

        public static EncodedSource Open(ImagePipeline pipeline, ReadOnlySpan<byte> bytes, IntPtr pinned, ImageFormat format)
        {
            var declared = HeaderReader.ReadHeader(bytes, format);
            if (declared.Status == ContainerStatus.Valid)
            {
                pipeline.CheckSize(declared.Width, declared.Height); // before any decoder sees the bytes
            }
            else if (declared.Status == ContainerStatus.Corrupt && format is ImageFormat.Png or ImageFormat.Webp or ImageFormat.Gif)
            {
                // These decoders are as strict as the header walk; libjpeg and the BMP reader skip some oddities,
                // so for those the decoder has the last word.
                throw new ImageRejectedException(RejectionCodes.Corrupt, $"the {format} header is invalid ({declared.Problem})");
            }

            // The stream shares the pinned bytes (no copy, no release proc) and is owned by the codec once created.
            var stream = new SKMemoryStream(SKData.Create(pinned, bytes.Length));
            var codec = SKCodec.Create(stream, out var result);
            if (codec is null)
            {
                stream.Dispose();
                throw format is ImageFormat.Heif or ImageFormat.Avif
                    ? new ImageRejectedException(RejectionCodes.UnsupportedFormat, $"{format} images cannot be decoded by this build")
                    : DecodeFailure(bytes, format, result, "header");
            }
            try
            {
                var w = codec.Info.Width;
                var h = codec.Info.Height;
                pipeline.CheckSize(w, h);
                var origin = (int)codec.EncodedOrigin;
                var header = new ImageHeader(format, w, h, origin is >= 1 and <= 8 ? origin : 1);
                return new EncodedSource(codec, header);
            }
            catch
            {
                codec.Dispose();
                throw;
            }
        }

        /// <summary>How the image will be decoded for stored-axes <paramref name="targets"/> and the memory it will hold
        /// at once, in 4-byte pixels. PNG, GIF and BMP decoders cannot scale, so when they can deliver rows
        /// (scanline decoding) the rows stream through the resamplers and only the outputs, a strip of rows and each
        /// resampler's window are held; otherwise (and for JPEG and WebP, which the codec scales to about the target)
        /// the image is decoded whole at the chosen scale. Decoder-internal buffers are added where they grow with the
        /// image: interlaced PNG (the whole image), progressive JPEG (every DCT coefficient), lossless WebP (the whole
        /// image in ARGB) and WebP alpha planes.</summary>
        public DecodePlan Plan(ReadOnlyMemory<byte> data, IReadOnlyList<(int W, int H)> targets)
        {
            var bytes = data.Span;
            var full = _codec.Info.Size;
            var (needW, needH) = targets.Count == 0 ? (1, 1) : targets.MaxBy(t => (long)t.W * t.H);
            var opaque = _codec.Info.AlphaType == SKAlphaType.Opaque;
            var streams = false;
            var bottomUp = false;
            var size = full;
            if (Header.Format is ImageFormat.Png or ImageFormat.Gif or ImageFormat.Bmp)
            {
                streams = _codec.StartScanlineDecode(DecodeInfo(full, opaque)) == SKCodecResult.Success
                    && _codec.ScanlineOrder is SKCodecScanlineOrder.TopDown or SKCodecScanlineOrder.BottomUp;
                bottomUp = streams && _codec.ScanlineOrder == SKCodecScanlineOrder.BottomUp;
            }
            long extra = 0;
            if (!streams && Header.Format == ImageFormat.Png)
            {
                // Skia's PNG codec has no scanline mode here: plain 8-bit PNGs are read row by row by our own reader.
                _pngRows?.Dispose();
                _pngRows = PngRowReader.TryOpen(data, premultiply: !opaque, out var bad);
                if (bad is not null)
                {
                    throw new ImageRejectedException(RejectionCodes.Corrupt, $"the Png data is damaged ({bad})");
                }
                streams = _pngRows is not null;
                extra = (96 * 1024 / 4) + ((_pngRows?.CompressedCopyBytes ?? 0) / 4); // inflater window and state, joined IDAT
            }
            if (!streams)
            {
                size = ChooseDecodeSize(_codec, needW, needH);
            }

            long cost = 0;
            foreach (var (w, h) in targets)
            {
                cost += ((long)w * h) + (Resampler.RowStream.WorkingBytes(size.Width, size.Height, w, h) / 4);
            }
            var stripRows = StripRows(size.Width);
            cost += (long)stripRows * size.Width * (opaque ? 1 : 2);
            if (!streams)
            {
                cost += (long)size.Width * size.Height;
            }
            var pixels = (long)full.Width * full.Height;
            cost += Header.Format switch
            {
                ImageFormat.Png when HeaderReader.IsInterlacedPng(bytes, out var bitDepth) => pixels * (bitDepth == 16 ? 2 : 1),
                ImageFormat.Jpeg when HeaderReader.IsProgressiveJpeg(bytes, out var components) => pixels * components / 2,
                ImageFormat.Webp => (bytes.IndexOf("VP8L"u8) >= 0 ? pixels : 0) + (bytes.IndexOf("ALPH"u8) >= 0 ? pixels / 2 : 0),
                _ => 0,
            };
            return new DecodePlan(streams, bottomUp, size, opaque, stripRows, cost + extra);
        }

        /// <summary>Decodes per <paramref name="plan"/> into one opaque bitmap per stored-axes target (resized with
        /// <see cref="Resampler"/>; an exact copy where a target is the decoded size), converting embedded colour
        /// profiles to sRGB and compositing alpha over white a strip of rows at a time.</summary>
        public SKBitmap?[] Decode(ReadOnlyMemory<byte> data, DecodePlan plan, IReadOnlyList<(int W, int H)> targets)
        {
            var bytes = data.Span;
            var size = plan.Size;
            var outputs = new SKBitmap?[targets.Count];
            var sinks = new Resampler.RowStream?[targets.Count];
            SKBitmap? whole = null;
            SKBitmap? strip = null;
            SKBitmap? flat = null;
            try
            {
                for (var k = 0; k < targets.Count; k++)
                {
                    var (w, h) = targets[k];
                    outputs[k] = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
                    sinks[k] = new Resampler.RowStream(size.Width, size.Height, w, h, plan.BottomUp);
                }
                var info = DecodeInfo(size, plan.Opaque);
                var stripInfo = info.WithSize(size.Width, plan.StripRows);
                if (!plan.Opaque)
                {
                    flat = new SKBitmap(stripInfo.WithAlphaType(SKAlphaType.Opaque));
                }

                if (!plan.Streams)
                {
                    whole = new SKBitmap(info);
                    var result = _codec.GetPixels(info, whole.GetPixels());
                    if (result != SKCodecResult.Success)
                    {
                        throw DecodeFailure(bytes, Header.Format, result, "pixels");
                    }
                }
                else
                {
                    strip = new SKBitmap(stripInfo);
                }

                for (var done = 0; done < size.Height;)
                {
                    var rows = Math.Min(plan.StripRows, size.Height - done);
                    IntPtr pixels;
                    int rowBytes;
                    if (whole is not null)
                    {
                        rowBytes = whole.RowBytes;
                        pixels = whole.GetPixels() + (done * rowBytes);
                    }
                    else
                    {
                        rowBytes = strip!.RowBytes;
                        pixels = strip.GetPixels();
                        var decodedRows = _pngRows is { } reader ? reader.ReadRows(pixels, rows, rowBytes) : _codec.GetScanlines(pixels, rows, rowBytes);
                        if (decodedRows < rows)
                        {
                            // Only the structure walk tells a cut file from a damaged one (a complete container whose
                            // data the decoder refused is corrupt).
                            var verdict = _pngRows?.Failure == "truncated" ? SKCodecResult.IncompleteInput : SKCodecResult.ErrorInInput;
                            throw DecodeFailure(bytes, Header.Format, verdict, "rows");
                        }
                    }
                    if (flat is not null)
                    {
                        Flatten(stripInfo.WithSize(size.Width, rows), pixels, rowBytes, flat);
                        pixels = flat.GetPixels();
                        rowBytes = flat.RowBytes;
                    }
                    for (var i = 0; i < rows; i++)
                    {
                        // A bottom-up decoder fills each call's rows in image order too (the last image row of the
                        // strip at its bottom), so those strips are read from their last row up.
                        var r = plan.BottomUp ? rows - 1 - i : i;
                        var y = plan.BottomUp ? size.Height - done - rows + r : done + r;
                        var row = RowSpan(pixels, rowBytes, r, size.Width);
                        for (var k = 0; k < sinks.Length; k++)
                        {
                            sinks[k]!.Push(y, row, PixelSpan(outputs[k]!), outputs[k]!.RowBytes);
                        }
                    }
                    done += rows;
                }
                for (var k = 0; k < outputs.Length; k++)
                {
                    if (!sinks[k]!.IsComplete)
                    {
                        throw new InvalidOperationException("the resampler did not receive every row");
                    }
                    outputs[k]!.SetImmutable();
                }
                var finished = outputs;
                outputs = [];
                return finished;
            }
            finally
            {
                foreach (var sink in sinks)
                {
                    sink?.Dispose();
                }
                foreach (var output in outputs)
                {
                    output?.Dispose();
                }
                whole?.Dispose();
                strip?.Dispose();
                flat?.Dispose();
            }
        }

        private static SKImageInfo DecodeInfo(SKSizeI size, bool opaque) =>
            new(size.Width, size.Height, SKColorType.Rgba8888, opaque ? SKAlphaType.Opaque : SKAlphaType.Premul, SKColorSpace.CreateSrgb());

        /// <summary>Rows per strip: about 1 MiB of RGBA, at least one row.</summary>
        private static int StripRows(int width) => Math.Clamp((1 << 20) / (4 * Math.Max(1, width)), 1, 64);

        /// <summary>Composites <paramref name="rows"/> premultiplied rows over white into <paramref name="flat"/>.</summary>
        private static void Flatten(SKImageInfo rows, IntPtr pixels, int rowBytes, SKBitmap flat)
        {
            using var pixmap = new SKPixmap(rows, pixels, rowBytes);
            using var image = SKImage.FromPixels(pixmap);
            using var canvas = new SKCanvas(flat);
            canvas.Clear(SKColors.White);
            canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest));
            canvas.Flush();
        }

        private static unsafe ReadOnlySpan<byte> RowSpan(IntPtr pixels, int rowBytes, int row, int width) =>
            new((byte*)pixels + ((long)row * rowBytes), 4 * width);

        private static unsafe Span<byte> PixelSpan(SKBitmap bitmap) =>
            new((void*)bitmap.GetPixels(), bitmap.RowBytes * bitmap.Height);

        /// <summary>JPEG offers n/8 scales (libjpeg-turbo's scaled IDCT), WebP any size, the others only full size.
        /// Skia rounds a requested JPEG scale to the nearest eighth, so every eighth above the exact ratio is tried.</summary>
        private static SKSizeI ChooseDecodeSize(SKCodec codec, int needW, int needH)
        {
            var full = codec.Info.Size;
            if (needW >= full.Width || needH >= full.Height)
            {
                return full;
            }
            var exact = Math.Max((float)needW / full.Width, (float)needH / full.Height);
            var best = full;
            Span<float> candidates = [exact, exact + (1f / Math.Min(full.Width, full.Height)), 1 / 8f, 2 / 8f, 3 / 8f, 4 / 8f, 5 / 8f, 6 / 8f, 7 / 8f];
            foreach (var scale in candidates)
            {
                if (scale < exact || scale >= 1f)
                {
                    continue;
                }
                var scaled = codec.GetScaledDimensions(scale);
                if (scaled.Width >= needW && scaled.Height >= needH && scaled.Width <= full.Width && scaled.Height <= full.Height
                    && (long)scaled.Width * scaled.Height < (long)best.Width * best.Height)
                {
                    best = scaled;
                }
            }
            return best;
        }

        public void Dispose()
        {
            _pngRows?.Dispose();
            _codec.Dispose();
        }
    }
}
