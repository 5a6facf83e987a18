using Landmark.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Landmark.Training;

/// <summary>
/// Exports a trained <see cref="EmbeddingNetwork"/> (backbone + GeM + neck + batch norm + L2 normalisation) to ONNX with
/// the project's own <see cref="OnnxGraphBuilder"/>. Batch norms are folded into the preceding convolution (and into
/// a scale/shift after the neck), as inference would compute them.
/// </summary>
public static class OnnxExporter
{
    /// <summary>PyTorch's (and TorchSharp's) default batch-norm epsilon, used by every batch norm of the network.</summary>
    public const double BatchNormEpsilon = 1e-5;

    public static byte[] Export(EmbeddingNetwork network, int inputSize, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        var b = new OnnxGraphBuilder("landmark-embedding");
        var x = b.Input(BaselineModel.InputName, null, 3, inputSize, inputSize);
        string y;
        if (network.backbone is GraphBackbone graph)
        {
            // The pretrained trunk: its preprocessing (BGR, 0–255, mean image at this size) and its graph with the trained weights.
            y = PretrainedModel.EmitTrunk(b, graph.ToGraph(), PretrainedModel.EmitPreprocess(b, x, graph.Source.MeanImage(inputSize), inputSize));
        }
        else
        {
            var scratch = (Backbone)network.backbone;
            y = ConvBn(b, x, scratch.stem);
            foreach (var block in scratch.blocks)
            {
                y = block switch
                {
                    BasicBlock basic => Basic(b, y, basic),
                    InvertedResidual inverted => Inverted(b, y, inverted),
                    _ => throw new NotSupportedException($"cannot export {block.GetType().Name}"),
                };
            }
        }
        var p = network.pool.P;
        var pooled = b.Flatten(b.Pow(b.GlobalAveragePool(b.Pow(b.Clip(y, (float)GeM.Epsilon), b.Scalar(p))), b.Scalar(1f / p)));
        var embedding = pooled;
        if (network.neck is { } linear && network.neckNorm is { } norm)
        {
            var neck = b.Gemm(pooled, b.Initializer(Floats(linear.weight!), Shape(linear.weight!)), b.Initializer(Floats(linear.bias!), Shape(linear.bias!)));
            var (scale, shift) = Fold(norm.weight!, norm.bias!, norm.running_mean!, norm.running_var!);
            embedding = b.Add(b.Mul(neck, b.Initializer(scale, [scale.Length])), b.Initializer(shift, [shift.Length]));
        }
        b.Output(b.L2Normalize(embedding), BaselineModel.OutputName, null, network.Dimension);
        return b.ToBytes(metadata: metadata);
    }

    private static string Basic(OnnxGraphBuilder b, string x, BasicBlock block)
    {
        var y = ConvBn(b, ConvBn(b, x, block.first), block.second);
        var skip = block.shortcut is null ? x : ConvBn(b, x, block.shortcut);
        return b.Relu(b.Add(y, skip));
    }

    private static string Inverted(OnnxGraphBuilder b, string x, InvertedResidual block)
    {
        var y = block.expand is null ? x : ConvBn(b, x, block.expand);
        y = ConvBn(b, ConvBn(b, y, block.depthwise), block.project);
        return block.UseResidual ? b.Add(y, x) : y;
    }

    private static string ConvBn(OnnxGraphBuilder b, string x, ConvBn module)
    {
        var weight = module.conv.weight!;
        var (scale, shift) = Fold(module.bn.weight!, module.bn.bias!, module.bn.running_mean!, module.bn.running_var!);
        var w = Floats(weight);
        var perChannel = w.Length / scale.Length;
        for (var o = 0; o < scale.Length; o++)
        {
            for (var i = 0; i < perChannel; i++)
            {
                w[(o * perChannel) + i] *= scale[o];
            }
        }
        var kernel = weight.shape[2];
        var y = b.Conv(x, b.Initializer(w, Shape(weight)), b.Initializer(shift, [shift.Length]),
            strides: [module.Stride, module.Stride], pads: [kernel / 2, kernel / 2, kernel / 2, kernel / 2], group: module.Groups);
        return module.Activation switch
        {
            Activation.Relu => b.Relu(y),
            Activation.Relu6 => b.Clip(y, 0f, 6f),
            _ => y,
        };
    }

    /// <summary>Batch norm as y = x·scale + shift.</summary>
    private static (float[] Scale, float[] Shift) Fold(Tensor gamma, Tensor beta, Tensor mean, Tensor variance)
    {
        var g = Floats(gamma);
        var bt = Floats(beta);
        var m = Floats(mean);
        var v = Floats(variance);
        var scale = new float[g.Length];
        var shift = new float[g.Length];
        for (var c = 0; c < g.Length; c++)
        {
            scale[c] = (float)(g[c] / Math.Sqrt(v[c] + BatchNormEpsilon));
            shift[c] = bt[c] - (m[c] * scale[c]);
        }
        return (scale, shift);
    }

    private static float[] Floats(Tensor t) => t.detach().cpu().contiguous().to_type(ScalarType.Float32).data<float>().ToArray();

    private static long[] Shape(Tensor t) => t.shape;
}
