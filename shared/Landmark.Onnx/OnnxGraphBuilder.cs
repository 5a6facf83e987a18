using Google.Protobuf;
using Landmark.Onnx.Proto;

namespace Landmark.Onnx;

/// <summary>
/// Builds ONNX models (opset <see cref="Opset"/>) node by node. Every helper returns the name of its output so calls
/// compose: <c>b.Relu(b.Conv(x, w, b, pads: [1, 1, 1, 1]))</c>. Tensor names are generated unless given.
/// Used for the baseline model and by the trainer's exporter.
/// </summary>
public sealed class OnnxGraphBuilder
{
    public const int Opset = 17;
    public const long IrVersion = 8;
    public const string BatchDimension = "N";

    private readonly GraphProto _graph;
    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);

    public OnnxGraphBuilder(string graphName)
    {
        _graph = new GraphProto { Name = graphName };
    }

    /// <summary>Declares a float input; null dimensions become the symbolic batch dimension.</summary>
    public string Input(string name, params long?[] shape)
    {
        _graph.Input.Add(ValueInfo(name, shape));
        return name;
    }

    /// <summary>Declares <paramref name="tensor"/> as a graph output named <paramref name="name"/>.</summary>
    public string Output(string tensor, string name, params long?[] shape)
    {
        if (tensor != name)
        {
            Node("Identity", [tensor], name: name, outputName: name);
        }
        _graph.Output.Add(ValueInfo(name, shape));
        return name;
    }

    /// <summary>A float constant (weights).</summary>
    public string Initializer(ReadOnlySpan<float> values, long[] shape, string? name = null)
    {
        name ??= Next("w");
        var expected = shape.Aggregate(1L, (a, b) => a * b);
        if (expected != values.Length)
        {
            throw new ArgumentException($"Initializer {name}: shape [{string.Join(",", shape)}] needs {expected} values, got {values.Length}.");
        }
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(shape);
        tensor.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
        _graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>An int64 constant (shapes, axes).</summary>
    public string Int64Initializer(long[] values, string? name = null)
    {
        name ??= Next("i");
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        _graph.Initializer.Add(tensor);
        return name;
    }

    public string Scalar(float value) => Initializer([value], []);

    /// <summary>Adds a node; returns its (first) output.</summary>
    public string Node(string opType, string[] inputs, IEnumerable<AttributeProto>? attributes = null, string? name = null, string? outputName = null)
    {
        var output = outputName ?? Next(opType.ToLowerInvariant());
        var node = new NodeProto { OpType = opType, Name = name ?? Next("n_" + opType) };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        if (attributes is not null)
        {
            node.Attribute.AddRange(attributes);
        }
        _graph.Node.Add(node);
        return output;
    }

    public string Conv(string x, string weight, string? bias = null, long[]? strides = null, long[]? pads = null, long group = 1, long[]? dilations = null)
    {
        var attributes = new List<AttributeProto> { Ints("strides", strides ?? [1, 1]), Ints("pads", pads ?? [0, 0, 0, 0]), Int("group", group) };
        if (dilations is not null)
        {
            attributes.Add(Ints("dilations", dilations));
        }
        return Node("Conv", bias is null ? [x, weight] : [x, weight, bias], attributes);
    }

    public string Relu(string x) => Node("Relu", [x]);
    public string Neg(string x) => Node("Neg", [x]);
    public string Abs(string x) => Node("Abs", [x]);
    public string Sign(string x) => Node("Sign", [x]);
    public string Sqrt(string x) => Node("Sqrt", [x]);
    public string Sigmoid(string x) => Node("Sigmoid", [x]);
    public string Add(string a, string b) => Node("Add", [a, b]);
    public string Sub(string a, string b) => Node("Sub", [a, b]);
    public string Mul(string a, string b) => Node("Mul", [a, b]);
    public string Div(string a, string b) => Node("Div", [a, b]);
    public string Pow(string a, string b) => Node("Pow", [a, b]);
    public string Max(string a, string b) => Node("Max", [a, b]);
    public string GlobalAveragePool(string x) => Node("GlobalAveragePool", [x]);

    public string Clip(string x, float min, float? max = null) =>
        Node("Clip", max is null ? [x, Scalar(min)] : [x, Scalar(min), Scalar(max.Value)]);

    public string AveragePool(string x, long kernel, long stride, long pad = 0) =>
        Node("AveragePool", [x], [Ints("kernel_shape", [kernel, kernel]), Ints("strides", [stride, stride]), Ints("pads", [pad, pad, pad, pad]), Int("count_include_pad", 0)]);

    public string MaxPool(string x, long kernel, long stride, long pad = 0) =>
        Node("MaxPool", [x], [Ints("kernel_shape", [kernel, kernel]), Ints("strides", [stride, stride]), Ints("pads", [pad, pad, pad, pad])]);

    public string Flatten(string x, long axis = 1) => Node("Flatten", [x], [Int("axis", axis)]);

    public string Concat(long axis, params string[] inputs) => Node("Concat", inputs, [Int("axis", axis)]);

    /// <summary>Y = X·Wᵀ + B with W of shape [out, in] (PyTorch's Linear layout).</summary>
    public string Gemm(string x, string weight, string? bias = null) =>
        Node("Gemm", bias is null ? [x, weight] : [x, weight, bias], [Int("transB", 1)]);

    public string BatchNormalization(string x, string scale, string bias, string mean, string variance, float epsilon = 1e-5f) =>
        Node("BatchNormalization", [x, scale, bias, mean, variance], [Float("epsilon", epsilon)]);

    /// <summary>L2-normalises along <paramref name="axis"/>.</summary>
    public string L2Normalize(string x, long axis = 1) => Node("LpNormalization", [x], [Int("axis", axis), Int("p", 2)]);

    /// <summary>Generalised-mean pooling: (mean over H,W of clip(x, eps)^p)^(1/p), output [N, C, 1, 1].</summary>
    public string GeM(string x, float p, float eps = 1e-6f)
    {
        var clipped = Clip(x, eps);
        var powered = Pow(clipped, Scalar(p));
        var pooled = GlobalAveragePool(powered);
        return Pow(pooled, Scalar(1f / p));
    }

    public byte[] ToBytes(string producer = "landmark-platform", IReadOnlyDictionary<string, string>? metadata = null)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = producer,
            ProducerVersion = "1",
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        if (metadata is not null)
        {
            foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
            }
        }
        return model.ToByteArray();
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static ValueInfoProto ValueInfo(string name, long?[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var d in shape)
        {
            tensorShape.Dim.Add(d is { } v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = BatchDimension });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = tensorShape } },
        };
    }

    private string Next(string prefix)
    {
        var n = _counters.GetValueOrDefault(prefix);
        _counters[prefix] = n + 1;
        return $"{prefix}_{n}";
    }
}
