using Landmark.Onnx.Proto;

namespace Landmark.Onnx;

/// <summary>One layer of a <see cref="ConvNetGraph"/>, in the graph's order. <see cref="Inputs"/> and
/// <see cref="Output"/> are the graph's tensor names (the first input of the first layer is the image).</summary>
public abstract record GraphLayer(string Output, IReadOnlyList<string> Inputs);

/// <summary>A convolution without bias. <paramref name="Pads"/> in ONNX order: [top, left, bottom, right].</summary>
public sealed record ConvLayer(string Output, IReadOnlyList<string> Inputs, float[] Weight, long[] Shape, long[] Strides, long[] Pads, long Group)
    : GraphLayer(Output, Inputs)
{
    public long OutChannels => Shape[0];
    public long InChannels => Shape[1] * Group;
    public long Kernel => Shape[2];
}

/// <summary>Inference batch norm: y = (x − mean) / √(var + ε) · scale + bias.</summary>
public sealed record BatchNormLayer(string Output, IReadOnlyList<string> Inputs, float[] Scale, float[] Bias, float[] Mean, float[] Variance, float Epsilon)
    : GraphLayer(Output, Inputs);

public sealed record ReluLayer(string Output, IReadOnlyList<string> Inputs) : GraphLayer(Output, Inputs);

public sealed record AddLayer(string Output, IReadOnlyList<string> Inputs) : GraphLayer(Output, Inputs);

/// <summary>Max pooling. <paramref name="Pads"/> in ONNX order: [top, left, bottom, right].</summary>
public sealed record MaxPoolLayer(string Output, IReadOnlyList<string> Inputs, long Kernel, long Stride, long[] Pads) : GraphLayer(Output, Inputs);

/// <summary>
/// The convolutional trunk of an ONNX image network as plain data: convolutions, batch norms, ReLUs, residual adds and
/// max pools in graph order, with their weights, up to (not including) the final global pooling. The topology is read
/// from the graph itself, so the ONNX rebuild (<see cref="PretrainedModel"/>) and the trainer's TorchSharp network
/// compute exactly what the original graph computes, padding quirks included.
/// </summary>
public sealed class ConvNetGraph
{
    private ConvNetGraph(string input, string output, IReadOnlyList<GraphLayer> layers, long outputChannels)
    {
        Input = input;
        Output = output;
        Layers = layers;
        OutputChannels = outputChannels;
    }

    /// <summary>Name of the image input tensor.</summary>
    public string Input { get; }

    /// <summary>Name of the feature-map tensor the trunk ends with ([N, C, h, w]).</summary>
    public string Output { get; }

    public IReadOnlyList<GraphLayer> Layers { get; }

    public long OutputChannels { get; }

    /// <summary>The same topology with other layer values (e.g. fine-tuned weights); names and order must match.</summary>
    public ConvNetGraph WithLayers(IReadOnlyList<GraphLayer> layers)
    {
        if (layers.Count != Layers.Count || layers.Zip(Layers).Any(p => p.First.GetType() != p.Second.GetType() || p.First.Output != p.Second.Output))
        {
            throw new ArgumentException("the layers do not match the graph's topology", nameof(layers));
        }
        return new ConvNetGraph(Input, Output, layers, OutputChannels);
    }

    public int ConvolutionCount => Layers.OfType<ConvLayer>().Count();

    public int BatchNormCount => Layers.OfType<BatchNormLayer>().Count();

    /// <summary>Reads the trunk of <paramref name="onnx"/>: every node up to a trailing global/7×7 average pool (and
    /// flatten/reshape after it). Fails clearly on operators it does not know.</summary>
    public static ConvNetGraph Parse(byte[] onnx)
    {
        var model = ModelProto.Parser.ParseFrom(onnx);
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var inputs = graph.Input.Where(i => !initializers.ContainsKey(i.Name)).ToList();
        if (inputs.Count != 1)
        {
            throw new InvalidDataException($"expected one image input, found {inputs.Count}");
        }
        var layers = new List<GraphLayer>();
        var channels = new Dictionary<string, long>(StringComparer.Ordinal) { [inputs[0].Name] = 3 };
        string? last = null;
        foreach (var node in graph.Node)
        {
            if (node.OpType is "AveragePool" or "GlobalAveragePool" or "Flatten" or "Reshape" or "Squeeze")
            {
                // The head: the rebuilt models pool (GeM or average) and normalise on their own.
                break;
            }
            var output = node.Output[0];
            GraphLayer layer = node.OpType switch
            {
                "Conv" => ReadConv(node, initializers),
                "BatchNormalization" => new BatchNormLayer(output, [node.Input[0]],
                    Floats(initializers[node.Input[1]]), Floats(initializers[node.Input[2]]), Floats(initializers[node.Input[3]]), Floats(initializers[node.Input[4]]),
                    node.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f),
                "Relu" => new ReluLayer(output, [node.Input[0]]),
                "Add" or "Sum" when node.Input.Count == 2 => new AddLayer(output, [node.Input[0], node.Input[1]]),
                "MaxPool" => ReadMaxPool(node),
                _ => throw new InvalidDataException($"unsupported operator {node.OpType} ({node.Name}) in the network trunk"),
            };
            foreach (var input in layer.Inputs)
            {
                if (!channels.ContainsKey(input))
                {
                    throw new InvalidDataException($"{node.OpType} {node.Name} reads '{input}', which no earlier node produces");
                }
            }
            channels[output] = layer is ConvLayer conv ? conv.OutChannels : channels[layer.Inputs[0]];
            layers.Add(layer);
            last = output;
        }
        if (last is null)
        {
            throw new InvalidDataException("the graph has no convolutional trunk");
        }
        return new ConvNetGraph(inputs[0].Name, last, layers, channels[last]);
    }

    private static ConvLayer ReadConv(NodeProto node, Dictionary<string, TensorProto> initializers)
    {
        if (node.Input.Count > 2 && !string.IsNullOrEmpty(node.Input[2]))
        {
            throw new InvalidDataException($"convolution {node.Name} has a bias; only bias-free convolutions followed by batch norms are supported");
        }
        var weight = initializers[node.Input[1]];
        var shape = weight.Dims.ToArray();
        var strides = Ints(node, "strides") ?? [1, 1];
        var pads = Ints(node, "pads") ?? [0, 0, 0, 0];
        var group = node.Attribute.FirstOrDefault(a => a.Name == "group")?.I ?? 1;
        var dilations = Ints(node, "dilations");
        var autoPad = node.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8();
        if (dilations is not null && dilations.Any(d => d != 1))
        {
            throw new InvalidDataException($"convolution {node.Name} is dilated; not supported");
        }
        if (autoPad is not null and not "" and not "NOTSET")
        {
            throw new InvalidDataException($"convolution {node.Name} uses auto_pad {autoPad}; explicit pads are required");
        }
        if (shape.Length != 4 || shape[2] != shape[3] || strides[0] != strides[1])
        {
            throw new InvalidDataException($"convolution {node.Name}: square kernels and strides only");
        }
        return new ConvLayer(node.Output[0], [node.Input[0]], Floats(weight), shape, strides, pads, group);
    }

    private static MaxPoolLayer ReadMaxPool(NodeProto node)
    {
        var kernel = Ints(node, "kernel_shape") ?? throw new InvalidDataException($"max pool {node.Name} has no kernel_shape");
        var strides = Ints(node, "strides") ?? [1, 1];
        if (kernel[0] != kernel[1] || strides[0] != strides[1])
        {
            throw new InvalidDataException($"max pool {node.Name}: square kernels and strides only");
        }
        return new MaxPoolLayer(node.Output[0], [node.Input[0]], kernel[0], strides[0], Ints(node, "pads") ?? [0, 0, 0, 0]);
    }

    private static long[]? Ints(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray();

    /// <summary>A float tensor's values (float_data or raw little-endian bytes).</summary>
    public static float[] Floats(TensorProto tensor)
    {
        if (tensor.DataType != (int)TensorProto.Types.DataType.Float)
        {
            throw new InvalidDataException($"tensor {tensor.Name} is not float32");
        }
        return tensor.FloatData.Count > 0
            ? tensor.FloatData.ToArray()
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
    }
}
