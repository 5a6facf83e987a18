using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Landmark.Onnx.Proto;

namespace Landmark.Onnx;

/// <summary>What a user says about a model they import (besides its bytes).</summary>
public sealed record ModelImportSettings
{
    /// <summary>Becomes part of the version after <see cref="OnnxModelImporter.SanitiseName"/>.</summary>
    public string Name { get; init; } = "";

    /// <summary>Square input side in pixels; 0 = the graph's fixed height and width.</summary>
    public int InputSize { get; init; }

    /// <summary>Per-channel mean subtracted from [0, 1] RGB (empty = none, see <see cref="ModelManifest.Mean"/>).</summary>
    public float[] Mean { get; init; } = [];

    /// <summary>Per-channel standard deviation divided after the mean (empty = none).</summary>
    public float[] Std { get; init; } = [];

    public string Description { get; init; } = "";
}

/// <summary>A model that cannot be imported; the message says exactly what is wrong.</summary>
public sealed class ModelImportException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The graph side of model import, without running anything: parses the bytes as ONNX, checks that the model has one
/// float image input <c>[N|1,3,H,W]</c> (square, or dynamic with a given size) and one float output declared as
/// <c>[N,D]</c> or <c>[N,D,1,1]</c>, and rewrites what the embedder cannot use as it is: a batch fixed at 1 becomes
/// the symbolic dimension <c>N</c> (value_info entries with a fixed batch are dropped), an <c>[N,D,1,1]</c> output
/// gets a Flatten node, Reshape nodes with a hard-coded batch of 1 can be made to copy the batch. Whether the result
/// really runs (and runs with a batch of 2) is for ONNX Runtime to show: see <c>ModelImport</c> in Landmark.Embedding.
/// </summary>
public static class OnnxModelImporter
{
    /// <summary>Name given to a batch dimension made variable (another one when the model already uses it).</summary>
    public const string BatchDimension = OnnxGraphBuilder.BatchDimension;

    public const int MinInputSize = 8;
    public const int MaxInputSize = 4096;
    public const int MaxNameLength = 48;

    /// <summary>Checks the graph and prepares the model to register. Throws <see cref="ModelImportException"/>.</summary>
    public static ImportCandidate Inspect(byte[] onnx, ModelImportSettings settings)
    {
        ArgumentNullException.ThrowIfNull(onnx);
        var (mean, std) = ValidateSettings(settings);
        var model = Parse(onnx);
        var graph = model.Graph;
        var checks = new List<string>
        {
            $"parses as ONNX: IR version {model.IrVersion}, opset {Opset(model)}, {graph.Node.Count} nodes, {graph.Initializer.Count} initializers" +
            (model.ProducerName.Length > 0 ? $", produced by {model.ProducerName} {model.ProducerVersion}".TrimEnd() : ""),
        };
        if (graph.Initializer.FirstOrDefault(t => t.DataLocation == TensorProto.Types.DataLocation.External) is { } external)
        {
            throw new ModelImportException($"initializer '{external.Name}' keeps its data in an external file: import a single .onnx file with the weights inside (e.g. onnx.save_model(model, path, save_as_external_data=False)).");
        }

        // One image input (initializers listed as inputs, as IR < 4 requires, are weights, not inputs).
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
        {
            throw new ModelImportException(inputs.Count == 0
                ? "the model has no input: expected one float image input [N,3,H,W]."
                : $"the model has {inputs.Count} inputs ({string.Join(", ", inputs.Select(i => $"'{i.Name}' {Describe(i)}"))}): expected exactly one float image input [N,3,H,W].");
        }
        var input = inputs[0];
        var inputShape = TensorShape(input, "input");
        if (input.Type.TensorType.ElemType != (int)TensorProto.Types.DataType.Float)
        {
            throw new ModelImportException($"input '{input.Name}' is {Describe(input)}: expected float [N,3,H,W].");
        }
        if (inputShape.Dim.Count != 4 || inputShape.Dim[1] is not { ValueCase: TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue, DimValue: 3 })
        {
            var hint = inputShape.Dim.Count == 4 && inputShape.Dim[3] is { ValueCase: TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue, DimValue: 3 }
                ? " (channels last; the platform feeds channels first)"
                : "";
            throw new ModelImportException($"input '{input.Name}' is {Describe(inputShape)}: expected [N,3,H,W] with 3 colour channels{hint}.");
        }
        var batch = inputShape.Dim[0];
        var fixedBatch = batch.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue;
        if (fixedBatch && batch.DimValue != 1)
        {
            throw new ModelImportException($"input '{input.Name}' is {Describe(inputShape)}: its batch dimension is fixed at {batch.DimValue}; expected a variable batch (N) or 1.");
        }
        var inputSize = ResolveInputSize(input.Name, inputShape, settings.InputSize);
        checks.Add($"input '{input.Name}': float {Describe(inputShape)}" + (settings.InputSize > 0 && !IsFixed(inputShape.Dim[2]) ? $", fed {inputSize}×{inputSize}" : ""));

        // One output, declared as [N,D] or [N,D,1,1] when the graph declares its shape.
        if (graph.Output.Count != 1)
        {
            throw new ModelImportException(graph.Output.Count == 0
                ? "the model has no output: expected one float embedding output [N,D] or [N,D,1,1]."
                : $"the model has {graph.Output.Count} outputs ({string.Join(", ", graph.Output.Select(o => $"'{o.Name}' {Describe(o)}"))}): expected exactly one embedding output [N,D] or [N,D,1,1].");
        }
        var output = graph.Output[0];
        if (output.Type?.TensorType is { } outputType)
        {
            if (outputType.ElemType != (int)TensorProto.Types.DataType.Float)
            {
                throw new ModelImportException($"output '{output.Name}' is {Describe(output)}: expected float [N,D] or [N,D,1,1].");
            }
            if (outputType.Shape is { } declared)
            {
                CheckOutputShape(output.Name, declared.Dim.Select(DimValue).ToArray(), Describe(declared), requireBatchOf: null);
            }
        }
        else if (output.Type is not null)
        {
            throw new ModelImportException($"output '{output.Name}' is {Describe(output)}: expected a float tensor [N,D] or [N,D,1,1].");
        }
        checks.Add($"output '{output.Name}': {Describe(output)}");

        var candidate = new ImportCandidate(onnx, model, input.Name, output.Name, inputSize, mean, std, checks) { BatchWasFixed = fixedBatch };
        if (fixedBatch)
        {
            candidate.MakeBatchVariable();
        }
        return candidate;
    }

    /// <summary>Checks what does not depend on the graph: the input size (0, or <see cref="MinInputSize"/> to <see
    /// cref="MaxInputSize"/>) and the normalisation (<see cref="Normalisation"/>, whose result it returns).</summary>
    public static (float[] Mean, float[] Std) ValidateSettings(ModelImportSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.InputSize != 0 && settings.InputSize is < MinInputSize or > MaxInputSize)
        {
            throw new ModelImportException($"input size {settings.InputSize} is out of range: expected {MinInputSize} to {MaxInputSize} pixels (or 0 for the graph's own size).");
        }
        return Normalisation(settings.Mean, settings.Std);
    }

    /// <summary>Parses ONNX bytes; throws <see cref="ModelImportException"/> when they are not an ONNX model.</summary>
    public static ModelProto Parse(byte[] onnx)
    {
        if (onnx.Length == 0)
        {
            throw new ModelImportException("the file is empty: expected an ONNX model.");
        }
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(onnx);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ModelImportException($"the file is not an ONNX model ({onnx.Length} bytes that do not parse as ONNX's ModelProto: {ex.Message}).", ex);
        }
        if (model.IrVersion <= 0 || model.Graph is null || model.Graph.Node.Count == 0)
        {
            throw new ModelImportException($"the file is not an ONNX model ({onnx.Length} bytes without " +
                (model.IrVersion <= 0 ? "an IR version" : model.Graph is null ? "a graph" : "any graph node") + ").");
        }
        return model;
    }

    /// <summary>Checks an output shape (declared: dims may be null = unknown; observed: all known). <paramref
    /// name="requireBatchOf"/> also checks the batch dimension of an observed shape.</summary>
    public static void CheckOutputShape(string name, long?[] dims, string described, long? requireBatchOf)
    {
        var expected = "expected [N,D] or [N,D,1,1]";
        if (dims.Length is not (2 or 4))
        {
            throw new ModelImportException($"output '{name}' is {described}: {expected}.");
        }
        if (dims.Length == 4 && (dims[2] is { } h && h != 1 || dims[3] is { } w && w != 1))
        {
            throw new ModelImportException($"output '{name}' is {described}: {expected} (pool the feature map to 1×1 inside the model).");
        }
        if (dims[1] is <= 0)
        {
            throw new ModelImportException($"output '{name}' is {described}: {expected} with D ≥ 1.");
        }
        if (requireBatchOf is { } n && dims[0] != n)
        {
            throw new ModelImportException($"output '{name}' is {described} for a batch of {n}: its first dimension must be the batch.");
        }
    }

    /// <summary>Validates mean and standard deviation: both empty, or 3 finite values each with std &gt; 0 (one alone:
    /// the other becomes 0,0,0 or 1,1,1).</summary>
    public static (float[] Mean, float[] Std) Normalisation(float[] mean, float[] std)
    {
        if (mean.Length == 0 && std.Length == 0)
        {
            return ([], []);
        }
        if (mean.Length is not (0 or 3))
        {
            throw new ModelImportException($"mean has {mean.Length} values: expected 3 (R,G,B).");
        }
        if (std.Length is not (0 or 3))
        {
            throw new ModelImportException($"std has {std.Length} values: expected 3 (R,G,B).");
        }
        mean = mean.Length == 0 ? [0f, 0f, 0f] : mean;
        std = std.Length == 0 ? [1f, 1f, 1f] : std;
        if (!mean.All(float.IsFinite))
        {
            throw new ModelImportException($"mean {Format(mean)} is not finite.");
        }
        if (!std.All(s => float.IsFinite(s) && s > 0))
        {
            throw new ModelImportException($"std {Format(std)}: every value must be finite and greater than 0.");
        }
        return (mean.ToArray(), std.ToArray());
    }

    /// <summary>Lower-case letters, digits, '.', '_' and '-' (others become '-'), at most <see cref="MaxNameLength"/>
    /// characters; "model" when nothing is left.</summary>
    public static string SanitiseName(string name)
    {
        var sb = new StringBuilder();
        foreach (var ch in name.Trim().ToLowerInvariant())
        {
            var keep = ch is >= 'a' and <= 'z' or >= '0' and <= '9' or '.' or '_' or '-';
            var c = keep ? ch : '-';
            if (c == '-' && sb.Length > 0 && sb[^1] == '-')
            {
                continue;
            }
            sb.Append(c);
        }
        var s = sb.ToString().Trim('-', '.', '_');
        if (s.Length > MaxNameLength)
        {
            s = s[..MaxNameLength].TrimEnd('-', '.', '_');
        }
        return s.Length == 0 ? "model" : s;
    }

    /// <summary><c>imported-&lt;name&gt;-&lt;sha256[..12]&gt;</c> over the registered graph and the settings that change
    /// its embeddings (input size, mean, std): the same model imported twice the same way is one version.</summary>
    public static string Version(string sanitisedName, byte[] onnx, int inputSize, float[] mean, float[] std)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(onnx);
        sha.AppendData(Encoding.UTF8.GetBytes($"|input={inputSize}|mean={Format(mean)}|std={Format(std)}"));
        return $"imported-{sanitisedName}-{Convert.ToHexStringLower(sha.GetHashAndReset())[..12]}";
    }

    /// <summary>"[N,3,224,224]" (dim_param names as written, "?" for unknown dimensions).</summary>
    public static string Describe(TensorShapeProto shape) =>
        "[" + string.Join(",", shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(CultureInfo.InvariantCulture),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when d.DimParam.Length > 0 => d.DimParam,
            _ => "?",
        })) + "]";

    public static string Describe(IEnumerable<long> dims) => "[" + string.Join(",", dims.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    internal static string Describe(ValueInfoProto value) => value.Type?.TensorType is { } t
        ? $"{ElementTypeName(t.ElemType)} {(t.Shape is null ? "(shape not declared)" : Describe(t.Shape))}"
        : "not a tensor";

    internal static string Format(float[] values) => string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    internal static long? DimValue(TensorShapeProto.Types.Dimension d) =>
        d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : null;

    private static bool IsFixed(TensorShapeProto.Types.Dimension d) => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue;

    private static TensorShapeProto TensorShape(ValueInfoProto value, string what)
    {
        if (value.Type?.TensorType is not { } tensor)
        {
            throw new ModelImportException($"{what} '{value.Name}' is not a tensor: expected float [N,3,H,W].");
        }
        return tensor.Shape ?? throw new ModelImportException($"{what} '{value.Name}' declares no shape: expected float [N,3,H,W].");
    }

    private static int ResolveInputSize(string name, TensorShapeProto shape, int requested)
    {
        var (h, w) = (DimValue(shape.Dim[2]), DimValue(shape.Dim[3]));
        if (h is { } fh && w is { } fw)
        {
            if (fh != fw)
            {
                throw new ModelImportException($"input '{name}' is {Describe(shape)}: the platform feeds square images, so H must equal W.");
            }
            if (requested > 0 && requested != fh)
            {
                throw new ModelImportException($"input '{name}' is {Describe(shape)}: its size is fixed at {fh}×{fw}, not the requested {requested}.");
            }
            if (fh is < MinInputSize or > MaxInputSize)
            {
                throw new ModelImportException($"input '{name}' is {Describe(shape)}: {fh}×{fw} is out of range ({MinInputSize} to {MaxInputSize} pixels).");
            }
            return (int)fh;
        }
        if (h is not null || w is not null)
        {
            throw new ModelImportException($"input '{name}' is {Describe(shape)}: height and width must both be fixed or both be dynamic.");
        }
        if (requested == 0)
        {
            throw new ModelImportException($"input '{name}' is {Describe(shape)}: its height and width are dynamic, so give the input size (--input-size N).");
        }
        return requested;
    }

    private static long Opset(ModelProto model) =>
        model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;

    private static string ElementTypeName(int type) => type switch
    {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        16 => "bfloat16",
        _ => $"element type {type}",
    };

    /// <summary>An int64 constant feeding a node: an initializer or a Constant node's value (null when neither).</summary>
    internal static long[]? Int64Constant(GraphProto graph, string name)
    {
        var tensor = graph.Initializer.FirstOrDefault(t => t.Name == name)
            ?? graph.Node.FirstOrDefault(n => n.OpType == "Constant" && n.Domain is "" or "ai.onnx" && n.Output.Contains(name))
                ?.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
        if (tensor is null || tensor.DataType != (int)TensorProto.Types.DataType.Int64 || tensor.DataLocation == TensorProto.Types.DataLocation.External)
        {
            return null;
        }
        if (tensor.Int64Data.Count > 0)
        {
            return tensor.Int64Data.ToArray();
        }
        var raw = tensor.RawData.Span;
        var values = new long[raw.Length / 8];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]);
        }
        return values;
    }
}

/// <summary>A model being imported: the (possibly rewritten) graph, what it takes and gives, and what the checks found.
/// Not thread-safe.</summary>
public sealed class ImportCandidate
{
    private readonly byte[] _original;
    private readonly List<string> _checks;
    private bool _rewritten;

    internal ImportCandidate(byte[] original, ModelProto model, string inputName, string outputName, int inputSize, float[] mean, float[] std, List<string> checks)
    {
        _original = original;
        Model = model;
        InputName = inputName;
        OutputName = outputName;
        InputSize = inputSize;
        Mean = mean;
        Std = std;
        _checks = checks;
    }

    /// <summary>The graph as it will be registered (do not change it directly).</summary>
    public ModelProto Model { get; }

    public string InputName { get; }

    /// <summary>The registered graph's output (a new name once a Flatten node was appended).</summary>
    public string OutputName { get; private set; }

    public int InputSize { get; }

    public float[] Mean { get; }

    public float[] Std { get; }

    /// <summary>The uploaded graph's batch was fixed at 1 (and has been made variable).</summary>
    public bool BatchWasFixed { get; init; }

    public bool Flattened { get; private set; }

    /// <summary>What the checks found and what was rewritten, one line each.</summary>
    public IReadOnlyList<string> Checks => _checks;

    public void AddCheck(string line) => _checks.Add(line);

    /// <summary>The uploaded bytes when nothing was rewritten, else the rewritten graph.</summary>
    public byte[] ToBytes() => _rewritten ? Model.ToByteArray() : _original;

    /// <summary>The uploaded bytes.</summary>
    public byte[] OriginalBytes => _original;

    /// <summary>Makes a batch fixed at 1 symbolic on the input and the output and drops value_info entries whose first
    /// dimension is a fixed 1 (ONNX Runtime infers them again).</summary>
    internal void MakeBatchVariable()
    {
        var graph = Model.Graph;
        var used = graph.Input.Concat(graph.Output).Concat(graph.ValueInfo)
            .SelectMany(v => v.Type?.TensorType?.Shape?.Dim ?? [])
            .Where(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam)
            .Select(d => d.DimParam).ToHashSet(StringComparer.Ordinal);
        var name = OnnxModelImporter.BatchDimension;
        for (var i = 2; used.Contains(name); i++)
        {
            name = $"batch{i}";
        }
        graph.Input.Single(v => v.Name == InputName).Type.TensorType.Shape.Dim[0].DimParam = name;
        var output = graph.Output[0].Type?.TensorType?.Shape;
        if (output is { Dim.Count: > 0 } && output.Dim[0].ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam)
        {
            output.Dim[0].DimParam = name;
        }
        var dropped = 0;
        for (var i = graph.ValueInfo.Count - 1; i >= 0; i--)
        {
            if (graph.ValueInfo[i].Type?.TensorType?.Shape is { Dim.Count: > 0 } shape && OnnxModelImporter.DimValue(shape.Dim[0]) == 1)
            {
                graph.ValueInfo.RemoveAt(i);
                dropped++;
            }
        }
        _rewritten = true;
        _checks.Add($"batch dimension fixed at 1: made variable ({name}) on input '{InputName}' and output '{OutputName}'" +
            (dropped > 0 ? $", {dropped} value_info entries with a fixed batch dropped" : ""));
    }

    /// <summary>Appends a Flatten node so that an <c>[N,D,1,1]</c> output becomes <c>[N,D]</c> (the registered
    /// output gets a new name).</summary>
    public void AppendFlatten(long dimension)
    {
        if (Flattened)
        {
            return;
        }
        var graph = Model.Graph;
        var names = graph.Node.SelectMany(n => n.Output.Concat(n.Input)).Concat(graph.Input.Select(i => i.Name)).Concat(graph.Initializer.Select(t => t.Name))
            .ToHashSet(StringComparer.Ordinal);
        var flat = OutputName + "_flat";
        for (var i = 2; names.Contains(flat); i++)
        {
            flat = $"{OutputName}_flat{i}";
        }
        var node = new NodeProto { OpType = "Flatten", Name = "landmark_import_flatten" + (names.Contains("landmark_import_flatten") ? "_" + flat : "") };
        node.Input.Add(OutputName);
        node.Output.Add(flat);
        node.Attribute.Add(OnnxGraphBuilder.Int("axis", 1));
        graph.Node.Add(node);
        var old = graph.Output[0];
        var batch = old.Type?.TensorType?.Shape is { Dim.Count: > 0 } s && s.Dim[0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam
            ? s.Dim[0].DimParam
            : OnnxModelImporter.BatchDimension;
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = batch });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dimension });
        graph.Output.Clear();
        graph.Output.Add(new ValueInfoProto
        {
            Name = flat,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        });
        var from = OutputName;
        OutputName = flat;
        Flattened = true;
        _rewritten = true;
        _checks.Add($"output '{from}' is [N,{dimension},1,1]: Flatten appended, the registered graph outputs '{flat}' [N,{dimension}]");
    }

    /// <summary>Reshape nodes whose target shape is a constant starting with a hard-coded 1 (a batch of 1 baked in at
    /// export) get a shape starting with 0, which copies the first dimension of their input, i.e. the batch. Returns
    /// what was changed (empty when no such Reshape exists). Whether the result is right is for the caller to verify
    /// by running it.</summary>
    public IReadOnlyList<string> RelaxFixedBatchReshapes()
    {
        var graph = Model.Graph;
        var changed = new List<string>();
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (node.OpType != "Reshape" || node.Domain is not ("" or "ai.onnx") || node.Input.Count < 2 ||
                node.Attribute.Any(a => a.Name == "allowzero" && a.I != 0) ||
                OnnxModelImporter.Int64Constant(graph, node.Input[1]) is not { Length: > 1 } target || target[0] != 1)
            {
                continue;
            }
            var relaxed = target.ToArray();
            relaxed[0] = 0;
            var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64 };
            tensor.Dims.Add(relaxed.Length);
            tensor.Int64Data.AddRange(relaxed);
            var constantName = $"{node.Input[1]}_batch_relaxed_{i}";
            var constant = new NodeProto { OpType = "Constant", Name = $"landmark_import_shape_{i}" };
            constant.Output.Add(constantName);
            constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = tensor });
            node.Input[1] = constantName;
            graph.Node.Insert(i, constant);
            i++;
            changed.Add($"Reshape '{(node.Name.Length > 0 ? node.Name : node.Output[0])}' to {OnnxModelImporter.Describe(target)}");
        }
        if (changed.Count > 0)
        {
            _rewritten = true;
        }
        return changed;
    }

    /// <summary>The manifest of the model as registered (<paramref name="registered"/> = <see cref="ToBytes"/>).</summary>
    public ModelManifest Manifest(byte[] registered, string name, long dimension, string description)
    {
        var sanitised = OnnxModelImporter.SanitiseName(name);
        var producer = $"{Model.ProducerName} {Model.ProducerVersion}".Trim();
        return new ModelManifest
        {
            Version = OnnxModelImporter.Version(sanitised, registered, InputSize, Mean, Std),
            Kind = ModelManifest.KindImported,
            Description = description.Trim().Length > 0
                ? description.Trim()
                : (name.Trim().Length > 0 ? $"imported '{name.Trim()}'" : "imported model") + (producer.Length > 0 ? $" ({producer})" : ""),
            InputName = InputName,
            OutputName = OutputName,
            InputSize = InputSize,
            Dimension = checked((int)dimension),
            Mean = Mean,
            Std = Std,
        };
    }
}
