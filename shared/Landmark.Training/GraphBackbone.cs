using Landmark.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Landmark.Training;

/// <summary>
/// A pretrained convolutional trunk in TorchSharp that computes exactly what its ONNX graph computes
/// (<see cref="ConvNetGraph"/>: the topology read from the graph, padding quirks included), with the graph's weights
/// loaded, trainable. Input: RGB in [0, 1], [N,3,S,S]; the network's own preprocessing (×255, BGR, minus its mean
/// image, resampled for sizes other than its native one) happens inside, as in the exported model.
/// <para>Stages for freezing: 0 is the stem (the first convolution), then one stage per channel width in order of
/// appearance (ResNet-18: 64, 128, 256, 512).</para>
/// </summary>
public sealed class GraphBackbone : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Conv2d> convs;
    private readonly ModuleList<BatchNorm2d> norms;
    private readonly (GraphLayer Layer, int Index)[] _plan;
    private readonly int[] _convStage;
    private readonly Dictionary<(int Size, DeviceType Device, int DeviceIndex), Tensor> _means = [];

    public GraphBackbone(PretrainedBackbone source) : base(nameof(GraphBackbone))
    {
        CpuNumerics.DisableNnpack();
        Source = source;
        Graph = source.Graph;
        var convList = new List<Conv2d>();
        var normList = new List<BatchNorm2d>();
        var plan = new List<(GraphLayer, int)>();
        var stages = new List<int>();
        var widths = new List<long>();
        using (torch.no_grad())
        {
            foreach (var layer in Graph.Layers)
            {
                switch (layer)
                {
                    case ConvLayer c:
                        var conv = nn.Conv2d(c.InChannels, c.OutChannels, c.Kernel, stride: c.Strides[0], groups: c.Group, bias: false);
                        conv.weight!.copy_(torch.tensor(c.Weight, c.Shape));
                        plan.Add((layer, convList.Count));
                        convList.Add(conv);
                        if (stages.Count == 0)
                        {
                            stages.Add(0);
                        }
                        else
                        {
                            if (!widths.Contains(c.OutChannels))
                            {
                                widths.Add(c.OutChannels);
                            }
                            stages.Add(1 + widths.IndexOf(c.OutChannels));
                        }
                        break;
                    case BatchNormLayer b:
                        var norm = nn.BatchNorm2d(b.Scale.Length, eps: b.Epsilon);
                        norm.weight!.copy_(torch.tensor(b.Scale));
                        norm.bias!.copy_(torch.tensor(b.Bias));
                        norm.running_mean!.copy_(torch.tensor(b.Mean));
                        norm.running_var!.copy_(torch.tensor(b.Variance));
                        plan.Add((layer, normList.Count));
                        normList.Add(norm);
                        break;
                    default:
                        plan.Add((layer, -1));
                        break;
                }
            }
        }
        convs = nn.ModuleList(convList.ToArray());
        norms = nn.ModuleList(normList.ToArray());
        _plan = [.. plan];
        _convStage = [.. stages];
        StageCount = 1 + widths.Count;
        RegisterComponents();
    }

    public PretrainedBackbone Source { get; }

    public ConvNetGraph Graph { get; }

    public long OutputChannels => Graph.OutputChannels;

    /// <summary>Stem plus one stage per channel width.</summary>
    public int StageCount { get; }

    /// <summary>Parameters of the first <paramref name="stages"/> stages (stem first) and their batch norms.</summary>
    public IEnumerable<Parameter> ParametersOfStages(int stages)
    {
        var frozenConvs = new HashSet<int>(Enumerable.Range(0, _convStage.Length).Where(i => _convStage[i] < stages));
        var lastConv = -1;
        foreach (var (layer, index) in _plan)
        {
            if (layer is ConvLayer)
            {
                lastConv = index;
                if (frozenConvs.Contains(index))
                {
                    yield return convs[index].weight!;
                }
            }
            else if (layer is BatchNormLayer && frozenConvs.Contains(lastConv))
            {
                yield return norms[index].weight!;
                yield return norms[index].bias!;
            }
        }
    }

    /// <summary>Puts every batch norm in eval mode (running statistics, no updates) while the rest trains: the usual
    /// choice when fine-tuning a pretrained network on small batches.</summary>
    public void FreezeBatchNormStatistics()
    {
        foreach (var norm in norms)
        {
            norm.eval();
        }
    }

    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = Preprocess(images);
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [Graph.Input] = x };
        foreach (var (layer, index) in _plan)
        {
            var input = values[layer.Inputs[0]];
            values[layer.Output] = layer switch
            {
                ConvLayer c => Convolve(input, convs[index].weight!, c),
                BatchNormLayer => norms[index].forward(input),
                ReluLayer => nn.functional.relu(input),
                AddLayer => input + values[layer.Inputs[1]],
                MaxPoolLayer p => MaxPool(input, p),
                _ => throw new NotSupportedException(layer.GetType().Name),
            };
        }
        return values[Graph.Output].MoveToOuterDisposeScope();
    }

    /// <summary>RGB [0, 1] → the network's BGR 0–255 minus its mean image.</summary>
    private Tensor Preprocess(Tensor images)
    {
        var size = (int)images.shape[2];
        if (images.shape[3] != size)
        {
            throw new ArgumentException("square images only", nameof(images));
        }
        var key = (size, images.device_type, images.device_index);
        Tensor? mean;
        lock (_means)
        {
            if (!_means.TryGetValue(key, out mean))
            {
                mean = torch.tensor(Source.MeanImage(size), [1, 3, size, size]).to(images.device).DetachFromDisposeScope();
                _means[key] = mean;
            }
        }
        return images.flip(1) * 255f - mean;
    }

    /// <summary>A convolution with the graph's (possibly asymmetric) pads: symmetric padding in the convolution itself
    /// when that yields the same windows, an explicit pad otherwise.</summary>
    private static Tensor Convolve(Tensor x, Tensor weight, ConvLayer c)
    {
        var (symmetric, padded) = Pad(x, c.Kernel, c.Strides[0], c.Pads, 0);
        return nn.functional.conv2d(padded, weight, strides: [c.Strides[0], c.Strides[1]], padding: [symmetric[0], symmetric[1]], groups: c.Group);
    }

    private static Tensor MaxPool(Tensor x, MaxPoolLayer p)
    {
        var (symmetric, padded) = Pad(x, p.Kernel, p.Stride, p.Pads, double.NegativeInfinity);
        return nn.functional.max_pool2d(padded, [p.Kernel, p.Kernel], [p.Stride, p.Stride], [symmetric[0], symmetric[1]]);
    }

    /// <summary>ONNX pads [top, left, bottom, right] as PyTorch's symmetric padding when the output windows are the
    /// same (the extra trailing pad is never read), otherwise an explicit pad of <paramref name="x"/>.</summary>
    private static (long[] Symmetric, Tensor Input) Pad(Tensor x, long kernel, long stride, long[] pads, double value)
    {
        var (top, left, bottom, right) = (pads[0], pads[1], pads[2], pads[3]);
        if (top == bottom && left == right)
        {
            return ([top, left], x);
        }
        long Outputs(long size, long begin, long end) => ((size + begin + end - kernel) / stride) + 1;
        var h = x.shape[2];
        var w = x.shape[3];
        if (Outputs(h, top, bottom) == Outputs(h, top, top) && Outputs(w, left, right) == Outputs(w, left, left))
        {
            return ([top, left], x);
        }
        return ([0, 0], nn.functional.pad(x, [left, right, top, bottom], PaddingModes.Constant, value));
    }

    /// <summary>The graph's layers with this module's current weights and batch-norm statistics (for export).</summary>
    public ConvNetGraph ToGraph()
    {
        var layers = new List<GraphLayer>();
        foreach (var (layer, index) in _plan)
        {
            layers.Add(layer switch
            {
                ConvLayer c => c with { Weight = Floats(convs[index].weight!) },
                BatchNormLayer b => b with
                {
                    Scale = Floats(norms[index].weight!),
                    Bias = Floats(norms[index].bias!),
                    Mean = Floats(norms[index].running_mean!),
                    Variance = Floats(norms[index].running_var!),
                },
                _ => layer,
            });
        }
        return Graph.WithLayers(layers);
    }

    private static float[] Floats(Tensor t) => t.detach().cpu().contiguous().to_type(ScalarType.Float32).data<float>().ToArray();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var mean in _means.Values)
            {
                mean.Dispose();
            }
            _means.Clear();
        }
        base.Dispose(disposing);
    }
}
