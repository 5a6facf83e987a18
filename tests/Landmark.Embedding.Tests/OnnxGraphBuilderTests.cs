using Landmark.Embedding;
using Landmark.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;

namespace Landmark.Embedding.Tests;

public class OnnxGraphBuilderTests
{
    [Fact]
    public void Conv_gem_linear_l2_graph_matches_a_reference_computation()
    {
        const int c = 2, k = 3, h = 4, w = 4, d = 2;
        var random = new Random(5);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.3)).ToArray();
        var convW = R(k * c * 3 * 3);
        var convB = R(k);
        var fcW = R(d * k);
        var fcB = R(d);
        var input = R(c * h * w);

        var b = new OnnxGraphBuilder("test");
        var x = b.Input("x", null, c, h, w);
        var conv = b.Relu(b.Conv(x, b.Initializer(convW, [k, c, 3, 3]), b.Initializer(convB, [k]), pads: [1, 1, 1, 1]));
        var gem = b.Flatten(b.GeM(conv, 3f));
        var y = b.L2Normalize(b.Gemm(gem, b.Initializer(fcW, [d, k]), b.Initializer(fcB, [d])));
        b.Output(y, "y", null, d);

        using var session = new InferenceSession(b.ToBytes());
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(input, [1, c, h, w]))]);
        var actual = results[0].AsEnumerable<float>().ToArray();

        // Reference in plain C#.
        var feature = new double[k];
        for (var o = 0; o < k; o++)
        {
            double sum = 0;
            for (var yy = 0; yy < h; yy++)
            {
                for (var xx = 0; xx < w; xx++)
                {
                    double v = convB[o];
                    for (var i = 0; i < c; i++)
                    {
                        for (var ky = 0; ky < 3; ky++)
                        {
                            for (var kx = 0; kx < 3; kx++)
                            {
                                int sy = yy + ky - 1, sx = xx + kx - 1;
                                if (sy >= 0 && sy < h && sx >= 0 && sx < w)
                                {
                                    v += convW[(((o * c) + i) * 9) + (ky * 3) + kx] * input[(i * h * w) + (sy * w) + sx];
                                }
                            }
                        }
                    }
                    sum += Math.Pow(Math.Max(Math.Max(v, 0), 1e-6), 3);
                }
            }
            feature[o] = Math.Pow(sum / (h * w), 1.0 / 3);
        }
        var output = new double[d];
        for (var j = 0; j < d; j++)
        {
            output[j] = fcB[j] + Enumerable.Range(0, k).Sum(i => fcW[(j * k) + i] * feature[i]);
        }
        var norm = Math.Sqrt(output.Sum(v => v * v));
        for (var j = 0; j < d; j++)
        {
            Assert.Equal(output[j] / norm, actual[j], 1e-5);
        }
    }

    [Fact]
    public void Baseline_model_is_deterministic_and_names_its_version_after_its_bytes()
    {
        var a = BaselineModel.Build();
        var b = BaselineModel.Build();
        Assert.Equal(a.OnnxBytes, b.OnnxBytes);
        Assert.Equal(a.Manifest.Version, b.Manifest.Version);
        Assert.StartsWith(ModelManifest.KindBaseline, a.Manifest.Version, StringComparison.Ordinal);
        Assert.NotEqual(a.Manifest.Version, BaselineModel.Build(new BaselineOptions { ColourWeight = 3 }).Manifest.Version);
    }

    [Fact]
    public void Baseline_embeddings_have_the_declared_size_unit_norm_and_do_not_depend_on_the_batch()
    {
        var artifact = BaselineModel.Build();
        using var model = new OnnxEmbeddingModel(artifact.OnnxBytes, artifact.Manifest, new EmbedderOptions());
        var s = artifact.Manifest.InputSize;
        var random = new Random(3);
        var images = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 3 * s * s).Select(__ => (float)random.NextDouble()).ToArray()).ToArray();
        var batch = model.Embed(images.SelectMany(i => i).ToArray(), 4);
        Assert.Equal(4, batch.Length);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(artifact.Manifest.Dimension, batch[i].Length);
            Assert.Equal(1.0, Math.Sqrt(batch[i].Sum(v => (double)v * v)), 1e-4);
            var alone = model.Embed(images[i], 1)[0];
            for (var j = 0; j < alone.Length; j++)
            {
                Assert.Equal(alone[j], batch[i][j], 1e-5);
            }
        }
    }

    [Fact]
    public void Models_with_the_wrong_output_shape_are_refused_with_a_clear_message()
    {
        var b = new OnnxGraphBuilder("bad");
        var x = b.Input("images", null, 3, 32, 32);
        b.Output(b.GlobalAveragePool(x), "embedding", null, 3, 1, 1);
        var manifest = new ModelManifest { Version = "bad-1", Kind = ModelManifest.KindImported, InputSize = 32, Dimension = 3 };
        var error = Assert.Throws<InvalidDataException>(() => new OnnxEmbeddingModel(b.ToBytes(), manifest, new EmbedderOptions()));
        Assert.Contains("must be float [N,D]", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => new OnnxEmbeddingModel([1, 2, 3], manifest, new EmbedderOptions()));
    }
}
