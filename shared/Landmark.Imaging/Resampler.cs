using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Landmark.Imaging;

/// <summary>
/// Separable Mitchell–Netravali (B = C = 1/3) resampling of 8-bit RGBA pixels, the same filter as Skia's
/// <c>SKCubicResampler.Mitchell</c> but widened by the reduction factor, so it stays free of aliasing at any reduction
/// (Skia's cubic samples 4×4 source pixels whatever the scale, and its mipmaps blur) and costs about four multiply-adds
/// per source pixel and pass instead of sixteen per output pixel. Pixels are resampled as they are stored (no alpha
/// handling: the pipeline flattens alpha first). Stateless and thread-safe; scratch buffers come from the shared pool.
/// </summary>
internal static class Resampler
{
    private const double Support = 2.0;

    /// <summary>Resamples <paramref name="source"/> (srcWidth×srcHeight RGBA, <paramref name="sourceRowBytes"/> per row)
    /// into <paramref name="destination"/> (dstWidth×dstHeight RGBA). An axis whose size does not change is copied.</summary>
    public static void Resize(ReadOnlySpan<byte> source, int srcWidth, int srcHeight, int sourceRowBytes,
        Span<byte> destination, int dstWidth, int dstHeight, int destinationRowBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(srcWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(srcHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dstWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dstHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sourceRowBytes, 4 * srcWidth);
        ArgumentOutOfRangeException.ThrowIfLessThan(destinationRowBytes, 4 * dstWidth);
        if (source.Length < ((long)sourceRowBytes * (srcHeight - 1)) + (4L * srcWidth)
            || destination.Length < ((long)destinationRowBytes * (dstHeight - 1)) + (4L * dstWidth))
        {
            throw new ArgumentException("the pixel buffers are smaller than their sizes say");
        }

        var sink = new RowStream(srcWidth, srcHeight, dstWidth, dstHeight);
        try
        {
            var (first, last) = sink.RowsNeeded;
            for (var y = first; y <= last; y++)
            {
                sink.Push(y, source.Slice(y * sourceRowBytes, 4 * srcWidth), destination, destinationRowBytes);
            }
        }
        finally
        {
            sink.Dispose();
        }
    }

    /// <summary>
    /// The same resampling fed one source row at a time, so a decoder can stream rows into it and nothing larger than
    /// the output and a window of horizontally resampled rows (about 4× the reduction factor of them) is ever held.
    /// Rows are pushed in order, top-down or bottom-up (BMP); each output row is written as soon as the rows under its
    /// filter have arrived, with the same arithmetic in the same order as a resampling of the whole image, so the
    /// result is bit-identical. Rows outside <see cref="RowsNeeded"/> are ignored.
    /// </summary>
    internal sealed class RowStream : IDisposable
    {
        private readonly int _srcWidth;
        private readonly int _dstWidth;
        private readonly int _dstHeight;
        private readonly Kernel _horizontal;
        private readonly Kernel _vertical;
        private readonly int _ringRows;
        private readonly Vector128<float>[] _sourceRow;
        private readonly Vector128<float>[] _ring;
        private readonly Vector128<float>[] _accumulator;
        private int _nextTopDown;     // next output row to write when rows come top-down
        private int _nextBottomUp;    // next output row to write when rows come bottom-up
        private readonly bool _bottomUp;
        private int _lastRow = -1;
        private bool _disposed;

        public RowStream(int srcWidth, int srcHeight, int dstWidth, int dstHeight, bool bottomUp = false)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(srcWidth, 1);
            ArgumentOutOfRangeException.ThrowIfLessThan(srcHeight, 1);
            ArgumentOutOfRangeException.ThrowIfLessThan(dstWidth, 1);
            ArgumentOutOfRangeException.ThrowIfLessThan(dstHeight, 1);
            _srcWidth = srcWidth;
            _dstWidth = dstWidth;
            _dstHeight = dstHeight;
            _bottomUp = bottomUp;
            _horizontal = Kernel.Compute(srcWidth, dstWidth);
            _vertical = Kernel.Compute(srcHeight, dstHeight);
            var window = 1;
            for (var y = 0; y < dstHeight; y++)
            {
                window = Math.Max(window, _vertical.Count[y]);
            }
            _ringRows = window + 1;
            RowsNeeded = (_vertical.Start[0], _vertical.Start[dstHeight - 1] + _vertical.Count[dstHeight - 1] - 1);
            _nextBottomUp = dstHeight - 1;
            var pool = ArrayPool<Vector128<float>>.Shared;
            _sourceRow = pool.Rent(srcWidth);
            _ring = pool.Rent(checked(dstWidth * _ringRows));
            _accumulator = pool.Rent(dstWidth);
        }

        /// <summary>The first and last source rows that contribute to the output.</summary>
        public (int First, int Last) RowsNeeded { get; }

        /// <summary>Bytes held while streaming, besides the output: the source row and the window, as floats.</summary>
        public static long WorkingBytes(int srcWidth, int srcHeight, int dstWidth, int dstHeight)
        {
            var scale = Math.Max(1.0, (double)srcHeight / dstHeight);
            var window = (long)Math.Ceiling(2 * Support * scale) + 3;
            return 16L * (srcWidth + (dstWidth * (window + 1)) + dstWidth);
        }

        /// <summary>Adds source row <paramref name="y"/> (RGBA, <c>4·srcWidth</c> bytes) and writes every output row whose
        /// filter window is now complete into <paramref name="destination"/>.</summary>
        public void Push(int y, ReadOnlySpan<byte> row, Span<byte> destination, int destinationRowBytes)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (y < RowsNeeded.First || y > RowsNeeded.Last)
            {
                return;
            }
            if (_lastRow >= 0 && (_bottomUp ? y >= _lastRow : y <= _lastRow))
            {
                throw new InvalidOperationException($"source row {y} after {_lastRow}: rows must come {(_bottomUp ? "bottom-up" : "top-down")}");
            }
            _lastRow = y;

            var target = _ring.AsSpan((y % _ringRows) * _dstWidth, _dstWidth);
            if (_horizontal.IsIdentity)
            {
                Widen(row[..(4 * _srcWidth)], target);
            }
            else
            {
                Widen(row[..(4 * _srcWidth)], _sourceRow.AsSpan(0, _srcWidth));
                Convolve(_sourceRow, _horizontal, target);
            }

            if (_bottomUp)
            {
                while (_nextBottomUp >= 0 && _vertical.Start[_nextBottomUp] >= y)
                {
                    Emit(_nextBottomUp--, destination, destinationRowBytes);
                }
            }
            else
            {
                while (_nextTopDown < _dstHeight && _vertical.Start[_nextTopDown] + _vertical.Count[_nextTopDown] - 1 <= y)
                {
                    Emit(_nextTopDown++, destination, destinationRowBytes);
                }
            }
        }

        /// <summary>Whether every output row has been written.</summary>
        public bool IsComplete => _bottomUp ? _nextBottomUp < 0 : _nextTopDown >= _dstHeight;

        private void Emit(int y, Span<byte> destination, int destinationRowBytes)
        {
            var start = _vertical.Start[y];
            var count = _vertical.Count[y];
            var weights = _vertical.WeightsOf(y);
            var acc = _accumulator.AsSpan(0, _dstWidth);
            acc.Clear();
            for (var k = 0; k < count; k++)
            {
                var w = Vector128.Create(weights[k]);
                var input = _ring.AsSpan(((start + k) % _ringRows) * _dstWidth, _dstWidth);
                for (var x = 0; x < acc.Length; x++)
                {
                    acc[x] += input[x] * w;
                }
            }
            Narrow(acc, destination.Slice(y * destinationRowBytes, 4 * _dstWidth));
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            var pool = ArrayPool<Vector128<float>>.Shared;
            pool.Return(_sourceRow);
            pool.Return(_ring);
            pool.Return(_accumulator);
        }
    }

    private static void Convolve(Vector128<float>[] input, Kernel kernel, Span<Vector128<float>> output)
    {
        ref var inputStart = ref MemoryMarshal.GetArrayDataReference(input);
        for (var x = 0; x < output.Length; x++)
        {
            var weights = kernel.WeightsOf(x);
            ref var pixel = ref Unsafe.Add(ref inputStart, kernel.Start[x]);
            var sum = Vector128<float>.Zero;
            for (var k = 0; k < weights.Length; k++)
            {
                sum += Unsafe.Add(ref pixel, k) * Vector128.Create(weights[k]);
            }
            output[x] = sum;
        }
    }

    /// <summary>RGBA bytes to one float vector per pixel.</summary>
    private static void Widen(ReadOnlySpan<byte> row, Span<Vector128<float>> pixels)
    {
        var x = 0;
        for (; x + 4 <= pixels.Length; x += 4)
        {
            var bytes = Vector128.Create(row.Slice(4 * x, 16));
            var (low, high) = Vector128.Widen(bytes);
            var (p0, p1) = Vector128.Widen(low);
            var (p2, p3) = Vector128.Widen(high);
            pixels[x] = Vector128.ConvertToSingle(p0);
            pixels[x + 1] = Vector128.ConvertToSingle(p1);
            pixels[x + 2] = Vector128.ConvertToSingle(p2);
            pixels[x + 3] = Vector128.ConvertToSingle(p3);
        }
        for (; x < pixels.Length; x++)
        {
            var p = row.Slice(4 * x, 4);
            pixels[x] = Vector128.Create(p[0], p[1], p[2], (float)p[3]);
        }
    }

    /// <summary>Float vectors back to RGBA bytes, rounded and clamped (the filter's negative lobes overshoot a little).</summary>
    private static void Narrow(ReadOnlySpan<Vector128<float>> pixels, Span<byte> row)
    {
        var half = Vector128.Create(0.5f);
        var max = Vector128.Create(255f);
        var x = 0;
        for (; x + 4 <= pixels.Length; x += 4)
        {
            var i0 = Vector128.ConvertToInt32(Vector128.Min(Vector128.Max(pixels[x] + half, Vector128<float>.Zero), max));
            var i1 = Vector128.ConvertToInt32(Vector128.Min(Vector128.Max(pixels[x + 1] + half, Vector128<float>.Zero), max));
            var i2 = Vector128.ConvertToInt32(Vector128.Min(Vector128.Max(pixels[x + 2] + half, Vector128<float>.Zero), max));
            var i3 = Vector128.ConvertToInt32(Vector128.Min(Vector128.Max(pixels[x + 3] + half, Vector128<float>.Zero), max));
            var bytes = Vector128.Narrow(Vector128.Narrow(i0, i1), Vector128.Narrow(i2, i3));
            bytes.AsByte().CopyTo(row.Slice(4 * x, 16));
        }
        for (; x < pixels.Length; x++)
        {
            var v = Vector128.ConvertToInt32(Vector128.Min(Vector128.Max(pixels[x] + half, Vector128<float>.Zero), max));
            row[4 * x] = (byte)v[0];
            row[(4 * x) + 1] = (byte)v[1];
            row[(4 * x) + 2] = (byte)v[2];
            row[(4 * x) + 3] = (byte)v[3];
        }
    }

    /// <summary>For each output pixel: the first input pixel, how many contribute and their normalised weights.</summary>
    private sealed class Kernel
    {
        private readonly float[] _weights;
        private readonly int _stride;

        private Kernel(int outSize, int stride, bool isIdentity)
        {
            Start = new int[outSize];
            Count = new int[outSize];
            _stride = stride;
            _weights = new float[outSize * stride];
            IsIdentity = isIdentity;
        }

        public int[] Start { get; }

        public int[] Count { get; }

        public bool IsIdentity { get; }

        public ReadOnlySpan<float> WeightsOf(int output) => _weights.AsSpan(output * _stride, Count[output]);

        public static Kernel Compute(int inSize, int outSize)
        {
            if (inSize == outSize)
            {
                var identity = new Kernel(outSize, 1, isIdentity: true);
                for (var i = 0; i < outSize; i++)
                {
                    identity.Start[i] = i;
                    identity.Count[i] = 1;
                    identity._weights[i] = 1f;
                }
                return identity;
            }
            var scale = (double)inSize / outSize;
            var filterScale = Math.Max(scale, 1.0);
            var support = Support * filterScale;
            var kernel = new Kernel(outSize, (int)Math.Ceiling(2 * support) + 2, isIdentity: false);
            for (var o = 0; o < outSize; o++)
            {
                var center = (o + 0.5) * scale;
                var min = Math.Max(0, (int)Math.Floor(center - support + 0.5));
                var max = Math.Min(inSize, (int)Math.Floor(center + support + 0.5));
                var weights = kernel._weights.AsSpan(o * kernel._stride, kernel._stride);
                double total = 0;
                for (var i = min; i < max; i++)
                {
                    var w = Mitchell((i + 0.5 - center) / filterScale);
                    weights[i - min] = (float)w;
                    total += w;
                }
                if (max <= min || total == 0)
                {
                    // Cannot happen for sizes ≥ 1; keep the nearest pixel rather than divide by zero.
                    min = Math.Clamp((int)center, 0, inSize - 1);
                    max = min + 1;
                    weights[0] = 1f;
                    total = 1;
                }
                for (var i = 0; i < max - min; i++)
                {
                    weights[i] = (float)(weights[i] / total);
                }
                kernel.Start[o] = min;
                kernel.Count[o] = max - min;
            }
            return kernel;
        }

        private static double Mitchell(double x)
        {
            const double b = 1.0 / 3.0;
            const double c = 1.0 / 3.0;
            x = Math.Abs(x);
            if (x < 1)
            {
                return (((12 - (9 * b) - (6 * c)) * x * x * x) + ((-18 + (12 * b) + (6 * c)) * x * x) + (6 - (2 * b))) / 6;
            }
            if (x < 2)
            {
                return (((-b - (6 * c)) * x * x * x) + (((6 * b) + (30 * c)) * x * x) + (((-12 * b) - (48 * c)) * x) + ((8 * b) + (24 * c))) / 6;
            }
            return 0;
        }
    }
}
