using Google.Protobuf;
using Landmark.Onnx;
using Landmark.Onnx.Proto;
using Landmark.Storage;
using Xunit;

namespace Landmark.Embedding.Tests;

/// <summary>The checks of a user's model before it is registered (<see cref="OnnxModelImporter"/> for the graph,
/// <see cref="ModelImport"/> with ONNX Runtime), on small graphs built for each case.</summary>
public class ModelImportTests
{
    private const int Size = 16;
    private const int Dim = 8;

    [Fact]
    public void A_model_with_a_variable_batch_is_registered_byte_for_byte_under_a_content_derived_imported_version()
    {
        var onnx = ConvPoolModel(batch: null);
        var imported = ModelImport.Check(onnx, new ModelImportSettings { Name = "Tiny Net" });
        var manifest = imported.Artifact.Manifest;

        Assert.Equal(onnx, imported.Artifact.OnnxBytes);
        Assert.Equal(ModelManifest.KindImported, manifest.Kind);
        Assert.Matches("^imported-tiny-net-[0-9a-f]{12}$", manifest.Version);
        Assert.Equal((Size, Dim, "images", "embedding"), (manifest.InputSize, manifest.Dimension, manifest.InputName, manifest.OutputName));
        Assert.Empty(manifest.Mean);
        Assert.Equal("imported 'Tiny Net' (landmark-platform 1)", manifest.Description);
        Assert.Equal("imported model (landmark-platform 1)", ModelImport.Check(onnx, new ModelImportSettings()).Artifact.Manifest.Description);
        Assert.Contains(imported.Checks, c => c.Contains("a batch of 2", StringComparison.Ordinal));
        Assert.DoesNotContain(imported.Checks, c => c.Contains("made variable", StringComparison.Ordinal));
        AssertServesBatchesLikeSingleImages(imported.Artifact);

        // The same bytes and settings are the same version; other settings or another name are another version.
        Assert.Equal(manifest.Version, ModelImport.Check(onnx, new ModelImportSettings { Name = "Tiny Net" }).Artifact.Manifest.Version);
        var normalised = ModelImport.Check(onnx, new ModelImportSettings { Name = "Tiny Net", Mean = [0.5f, 0.5f, 0.5f], Std = [0.25f, 0.25f, 0.25f] });
        Assert.NotEqual(manifest.Version, normalised.Artifact.Manifest.Version);
        Assert.Equal([0.5f, 0.5f, 0.5f], normalised.Artifact.Manifest.Mean);
        Assert.Equal([0.25f, 0.25f, 0.25f], normalised.Artifact.Manifest.Std);
        Assert.NotEqual(manifest.Version, ModelImport.Check(onnx, new ModelImportSettings { Name = "other" }).Artifact.Manifest.Version);
    }

    [Fact]
    public void A_batch_fixed_at_1_is_made_variable_and_the_rewritten_graph_embeds_a_batch_like_single_images()
    {
        var model = ModelProto.Parser.ParseFrom(ConvPoolModel(batch: 1));
        // A value_info entry with the fixed batch, as exporters write them.
        model.Graph.ValueInfo.Add(ValueInfo(model.Graph.Node[0].Output[0], 1, Dim, Size, Size));
        var imported = ModelImport.Check(model.ToByteArray(), new ModelImportSettings { Name = "fixed" });

        var registered = ModelProto.Parser.ParseFrom(imported.Artifact.OnnxBytes);
        Assert.Equal("N", registered.Graph.Input.Single().Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal("N", registered.Graph.Output.Single().Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Empty(registered.Graph.ValueInfo);
        Assert.Contains(imported.Checks, c => c.Contains("batch dimension fixed at 1: made variable (N)", StringComparison.Ordinal) &&
            c.Contains("1 value_info", StringComparison.Ordinal));
        AssertServesBatchesLikeSingleImages(imported.Artifact);
    }

    [Fact]
    public void An_N_D_1_1_output_gets_a_flatten_node_so_the_registered_graph_outputs_N_D()
    {
        var imported = ModelImport.Check(ConvPoolModel(batch: null, flatten: false), new ModelImportSettings { Name = "pooled" });

        var registered = ModelProto.Parser.ParseFrom(imported.Artifact.OnnxBytes);
        var output = registered.Graph.Output.Single();
        Assert.Equal("embedding_flat", output.Name);
        Assert.Equal("embedding_flat", imported.Artifact.Manifest.OutputName);
        Assert.Equal("[N,8]", OnnxModelImporter.Describe(output.Type.TensorType.Shape));
        Assert.Equal("Flatten", registered.Graph.Node[^1].OpType);
        Assert.Contains(imported.Checks, c => c.Contains("Flatten appended", StringComparison.Ordinal));
        AssertServesBatchesLikeSingleImages(imported.Artifact);
    }

    [Fact]
    public void A_batch_1_model_with_a_1x1_pooled_output_like_the_cntk_resnet_is_rewritten_both_ways()
    {
        var imported = ModelImport.Check(ConvPoolModel(batch: 1, flatten: false), new ModelImportSettings { Name = "cntk-like" });

        var registered = ModelProto.Parser.ParseFrom(imported.Artifact.OnnxBytes);
        Assert.Equal("[N,3,16,16]", OnnxModelImporter.Describe(registered.Graph.Input.Single().Type.TensorType.Shape));
        Assert.Equal("[N,8]", OnnxModelImporter.Describe(registered.Graph.Output.Single().Type.TensorType.Shape));
        AssertServesBatchesLikeSingleImages(imported.Artifact);
    }

    [Fact]
    public void A_model_that_does_not_declare_its_output_shape_is_checked_and_flattened_from_what_it_computes()
    {
        var model = ModelProto.Parser.ParseFrom(ConvPoolModel(batch: null, flatten: false));
        model.Graph.Output[0].Type.TensorType.Shape = null;
        var imported = ModelImport.Check(model.ToByteArray(), new ModelImportSettings { Name = "undeclared" });

        Assert.Equal(Dim, imported.Artifact.Manifest.Dimension);
        Assert.Contains(imported.Checks, c => c.Contains("(shape not declared)", StringComparison.Ordinal));
        Assert.Contains(imported.Checks, c => c.Contains("Flatten appended", StringComparison.Ordinal));
        AssertServesBatchesLikeSingleImages(imported.Artifact);
    }

    [Fact]
    public void A_reshape_with_a_hard_coded_batch_of_1_is_made_to_copy_the_batch()
    {
        var b = new OnnxGraphBuilder("reshape");
        var x = b.Input("images", 1, 3, Size, Size);
        var pooled = b.GlobalAveragePool(Conv(b, x));
        var flat = b.Node("Reshape", [pooled, b.Int64Initializer([1, Dim])]);
        b.Output(flat, "embedding", 1, Dim);
        var imported = ModelImport.Check(b.ToBytes(), new ModelImportSettings { Name = "reshape" });

        Assert.Contains(imported.Checks, c => c.Contains("made to copy the batch", StringComparison.Ordinal) && c.Contains("[1,8]", StringComparison.Ordinal));
        AssertServesBatchesLikeSingleImages(imported.Artifact);
    }

    [Fact]
    public void A_graph_that_builds_its_batch_of_1_in_beyond_repair_is_refused_with_an_export_hint()
    {
        // [1,3,16,16] → Reshape [3,256] → mean over the 3 rows → [1,256]: no batch can be made of that.
        var b = new OnnxGraphBuilder("folded");
        var x = b.Input("images", 1, 3, Size, Size);
        var rows = b.Node("Reshape", [x, b.Int64Initializer([3, Size * Size])]);
        var mean = b.Node("ReduceMean", [rows], [OnnxGraphBuilder.Ints("axes", [0]), OnnxGraphBuilder.Int("keepdims", 1)]);
        b.Output(mean, "embedding", 1, Size * Size);

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(b.ToBytes(), new ModelImportSettings()));
        Assert.Contains("exported with a batch of 1 and still cannot take a batch of 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("dynamic_axes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_that_computes_nan_is_refused_as_not_finite()
    {
        var b = new OnnxGraphBuilder("nan");
        var x = b.Input("images", null, 3, Size, Size);
        var root = b.Sqrt(b.Sub(x, b.Scalar(2f))); // Sqrt of a negative number
        b.Output(b.Flatten(b.GlobalAveragePool(root)), "embedding", null, 3);

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(b.ToBytes(), new ModelImportSettings()));
        Assert.Contains("output 'embedding' is not finite on a probe image (3 NaN and 0 infinite of 3 values)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_probe_feeds_pixels_normalised_with_the_given_mean_and_std_as_the_embedder_does()
    {
        // Log is finite on [0, 1] pixels (the probe avoids exact zeros) and NaN once the mean 0.5 is subtracted.
        var b = new OnnxGraphBuilder("log");
        var x = b.Input("images", null, 3, Size, Size);
        b.Output(b.Flatten(b.GlobalAveragePool(b.Node("Log", [b.Add(x, b.Scalar(1e-3f))]))), "embedding", null, 3);
        var onnx = b.ToBytes();

        Assert.Equal(3, ModelImport.Check(onnx, new ModelImportSettings()).Artifact.Manifest.Dimension);
        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(onnx, new ModelImportSettings { Mean = [0.5f, 0.5f, 0.5f] }));
        Assert.Contains("not finite", error.Message, StringComparison.Ordinal);
        Assert.Contains("mean 0.5,0.5,0.5 and std 1,1,1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_whose_output_is_all_zeros_is_refused()
    {
        var b = new OnnxGraphBuilder("zeros");
        var x = b.Input("images", null, 3, Size, Size);
        b.Output(b.Flatten(b.GlobalAveragePool(b.Mul(x, b.Scalar(0f)))), "embedding", null, 3);

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(b.ToBytes(), new ModelImportSettings()));
        Assert.Contains("all zeros", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_with_two_inputs_is_refused_naming_both()
    {
        var b = new OnnxGraphBuilder("two");
        var x = b.Input("images", null, 3, Size, Size);
        var mask = b.Input("mask", null, 1, Size, Size);
        b.Output(b.Flatten(b.GlobalAveragePool(b.Mul(x, mask))), "embedding", null, 3);

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(b.ToBytes(), new ModelImportSettings()));
        Assert.Equal("the model has 2 inputs ('images' float [N,3,16,16], 'mask' float [N,1,16,16]): expected exactly one float image input [N,3,H,W].", error.Message);
    }

    [Theory]
    [InlineData(1, "input 'images' is [N,1,16,16]: expected [N,3,H,W] with 3 colour channels.")]
    [InlineData(4, "input 'images' is [N,4,16,16]: expected [N,3,H,W] with 3 colour channels.")]
    public void A_model_with_the_wrong_channel_count_is_refused(int channels, string message)
    {
        var b = new OnnxGraphBuilder("channels");
        var x = b.Input("images", null, channels, Size, Size);
        b.Output(b.Flatten(b.GlobalAveragePool(x)), "embedding", null, channels);

        Assert.Equal(message, Assert.Throws<ModelImportException>(() => ModelImport.Check(b.ToBytes(), new ModelImportSettings())).Message);
    }

    [Fact]
    public void A_channels_last_input_is_refused_with_a_hint()
    {
        var b = new OnnxGraphBuilder("nhwc");
        var x = b.Input("images", null, Size, Size, 3);
        b.Output(b.Flatten(b.GlobalAveragePool(x)), "embedding", null, Size);

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(b.ToBytes(), new ModelImportSettings()));
        Assert.Contains("channels last", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_non_float_input_and_a_batch_fixed_at_more_than_1_are_refused()
    {
        var model = ModelProto.Parser.ParseFrom(ConvPoolModel(batch: null));
        model.Graph.Input[0].Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Uint8;
        Assert.Equal("input 'images' is uint8 [N,3,16,16]: expected float [N,3,H,W].",
            Assert.Throws<ModelImportException>(() => ModelImport.Check(model.ToByteArray(), new ModelImportSettings())).Message);

        var four = ConvPoolModel(batch: 4);
        Assert.Contains("its batch dimension is fixed at 4; expected a variable batch (N) or 1",
            Assert.Throws<ModelImportException>(() => ModelImport.Check(four, new ModelImportSettings())).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new long[] { 1, 1000, 3 }, "output 'embedding' is [1,1000,3]: expected [N,D] or [N,D,1,1].")]
    [InlineData(new long[] { -1, 8, 4, 4 }, "output 'embedding' is [N,8,4,4]: expected [N,D] or [N,D,1,1] (pool the feature map to 1×1 inside the model).")]
    public void An_output_declared_other_than_N_D_or_N_D_1_1_is_refused_with_its_shape(long[] shape, string message)
    {
        var model = ModelProto.Parser.ParseFrom(ConvPoolModel(batch: null));
        model.Graph.Output[0] = ValueInfo("embedding", shape.Select(d => d < 0 ? (long?)null : d).ToArray());

        Assert.Equal(message, Assert.Throws<ModelImportException>(() => ModelImport.Check(model.ToByteArray(), new ModelImportSettings())).Message);
    }

    [Fact]
    public void An_output_that_turns_out_not_to_be_N_D_when_run_is_refused_with_the_observed_shape()
    {
        // Declares nothing about its output; computes [1,8,4,4].
        var b = new OnnxGraphBuilder("spatial");
        var x = b.Input("images", null, 3, Size, Size);
        b.Output(b.AveragePool(Conv(b, x), 4, 4), "embedding", null, Dim, 4, 4);
        var model = ModelProto.Parser.ParseFrom(b.ToBytes());
        model.Graph.Output[0].Type.TensorType.Shape = null;

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(model.ToByteArray(), new ModelImportSettings()));
        Assert.StartsWith("output 'embedding' is [1,8,4,4]: expected [N,D] or [N,D,1,1]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_with_two_outputs_is_refused()
    {
        var b = new OnnxGraphBuilder("outputs");
        var x = b.Input("images", null, 3, Size, Size);
        var pooled = b.Flatten(b.GlobalAveragePool(x));
        b.Output(pooled, "embedding", null, 3);
        b.Output(b.Relu(pooled), "logits", null, 3);

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(b.ToBytes(), new ModelImportSettings()));
        Assert.StartsWith("the model has 2 outputs ('embedding' float [N,3], 'logits' float [N,3])", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Garbage_and_empty_files_are_refused_as_not_onnx()
    {
        var random = new byte[4096];
        new Random(7).NextBytes(random);
        foreach (var bytes in new[] { random, "this is not a model\n"u8.ToArray(), ModelManifestJson() })
        {
            var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(bytes, new ModelImportSettings()));
            Assert.StartsWith("the file is not an ONNX model", error.Message, StringComparison.Ordinal);
        }
        Assert.Equal("the file is empty: expected an ONNX model.", Assert.Throws<ModelImportException>(() => ModelImport.Check([], new ModelImportSettings())).Message);
    }

    [Fact]
    public void Weights_in_an_external_file_are_refused()
    {
        var model = ModelProto.Parser.ParseFrom(ConvPoolModel(batch: null));
        model.Graph.Initializer[0].DataLocation = TensorProto.Types.DataLocation.External;
        model.Graph.Initializer[0].ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(model.ToByteArray(), new ModelImportSettings()));
        Assert.Contains("keeps its data in an external file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dynamic_height_and_width_need_an_input_size_and_are_fed_at_that_size()
    {
        var model = ModelProto.Parser.ParseFrom(ConvPoolModel(batch: null));
        var dims = model.Graph.Input[0].Type.TensorType.Shape.Dim;
        dims[2].DimParam = "H";
        dims[3].DimParam = "W";
        var onnx = model.ToByteArray();

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(onnx, new ModelImportSettings()));
        Assert.Equal("input 'images' is [N,3,H,W]: its height and width are dynamic, so give the input size (--input-size N).", error.Message);
        var imported = ModelImport.Check(onnx, new ModelImportSettings { InputSize = 40 });
        Assert.Equal(40, imported.Artifact.Manifest.InputSize);
        Assert.Contains(imported.Checks, c => c.Contains("fed 40×40", StringComparison.Ordinal));
    }

    [Fact]
    public void A_non_square_input_or_a_size_that_contradicts_the_graph_is_refused()
    {
        var b = new OnnxGraphBuilder("wide");
        var x = b.Input("images", null, 3, Size, 2 * Size);
        b.Output(b.Flatten(b.GlobalAveragePool(x)), "embedding", null, 3);
        Assert.Contains("H must equal W", Assert.Throws<ModelImportException>(() => ModelImport.Check(b.ToBytes(), new ModelImportSettings())).Message,
            StringComparison.Ordinal);

        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(ConvPoolModel(batch: null), new ModelImportSettings { InputSize = 224 }));
        Assert.Equal("input 'images' is [N,3,16,16]: its size is fixed at 16×16, not the requested 224.", error.Message);
    }

    [Theory]
    [InlineData(new[] { 0.5f, 0.5f }, new float[0], "mean has 2 values: expected 3 (R,G,B).")]
    [InlineData(new float[0], new[] { 0.2f, 0.2f, 0.2f, 0.2f }, "std has 4 values: expected 3 (R,G,B).")]
    [InlineData(new[] { 0.5f, 0.5f, 0.5f }, new[] { 0.2f, 0f, 0.2f }, "std 0.2,0,0.2: every value must be finite and greater than 0.")]
    [InlineData(new[] { 0.5f, float.NaN, 0.5f }, new[] { 0.2f, 0.2f, 0.2f }, "mean 0.5,NaN,0.5 is not finite.")]
    public void Mean_and_std_need_three_finite_values_and_a_positive_std(float[] mean, float[] std, string message)
    {
        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(ConvPoolModel(batch: null), new ModelImportSettings { Mean = mean, Std = std }));
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5000)]
    [InlineData(-1)]
    public void An_input_size_out_of_range_is_refused(int size)
    {
        var error = Assert.Throws<ModelImportException>(() => ModelImport.Check(ConvPoolModel(batch: null), new ModelImportSettings { InputSize = size }));
        Assert.Equal($"input size {size} is out of range: expected 8 to 4096 pixels (or 0 for the graph's own size).", error.Message);
    }

    [Fact]
    public void Mean_alone_divides_by_one_and_std_alone_subtracts_zero()
    {
        var (mean, std) = OnnxModelImporter.Normalisation([0.4f, 0.5f, 0.6f], []);
        Assert.Equal([0.4f, 0.5f, 0.6f], mean);
        Assert.Equal([1f, 1f, 1f], std);
        (mean, std) = OnnxModelImporter.Normalisation([], [0.2f, 0.2f, 0.2f]);
        Assert.Equal([0f, 0f, 0f], mean);
        Assert.Equal([0.2f, 0.2f, 0.2f], std);
        (mean, std) = OnnxModelImporter.Normalisation([], []);
        Assert.Empty(mean);
        Assert.Empty(std);
    }

    [Theory]
    [InlineData("ResNet-18 (ImageNet)", "resnet-18-imagenet")]
    [InlineData("../../etc/passwd", "etc-passwd")]
    [InlineData("a/b\\c d", "a-b-c-d")]
    [InlineData("", "model")]
    [InlineData("////", "model")]
    [InlineData("Ünïcødé", "n-c-d")]
    public void Names_are_sanitised_into_valid_object_keys(string name, string expected)
    {
        var sanitised = OnnxModelImporter.SanitiseName(name);
        Assert.Equal(expected, sanitised);
        var version = OnnxModelImporter.Version(sanitised, [1, 2, 3], 224, [], []);
        ObjectKeys.Validate(version);
        ObjectKeys.Validate(ModelRegistry.ModelKey(version));
        Assert.Equal(OnnxModelImporter.MaxNameLength, OnnxModelImporter.SanitiseName(new string('x', 200)).Length);
    }

    private static byte[] ModelManifestJson() => """{"version":"x","kind":"imported","inputSize":224,"dimension":512}"""u8.ToArray();

    /// <summary>[B,3,16,16] → 1×1 conv to 8 channels → ReLU → global average pool → (flatten) → [B,8] or [B,8,1,1].</summary>
    private static byte[] ConvPoolModel(long? batch, bool flatten = true)
    {
        var b = new OnnxGraphBuilder("import-test");
        var x = b.Input("images", batch, 3, Size, Size);
        var pooled = b.GlobalAveragePool(Conv(b, x));
        if (flatten)
        {
            b.Output(b.Flatten(pooled), "embedding", batch, Dim);
        }
        else
        {
            b.Output(pooled, "embedding", batch, Dim, 1, 1);
        }
        return b.ToBytes();
    }

    private static string Conv(OnnxGraphBuilder b, string x)
    {
        var random = new Random(11);
        var weights = Enumerable.Range(0, Dim * 3).Select(_ => (float)(random.NextDouble() - 0.3)).ToArray();
        var bias = Enumerable.Range(0, Dim).Select(i => 0.05f * (i + 1)).ToArray();
        return b.Relu(b.Conv(x, b.Initializer(weights, [Dim, 3, 1, 1]), b.Initializer(bias, [Dim])));
    }

    private static ValueInfoProto ValueInfo(string name, params long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d is { } v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    /// <summary>The registered model served by the embedder: a batch of 3 gives the embeddings of the images one at a time.</summary>
    private static void AssertServesBatchesLikeSingleImages(ModelArtifact artifact)
    {
        using var model = new OnnxEmbeddingModel(artifact.OnnxBytes, artifact.Manifest, new EmbedderOptions { IntraOpThreads = 1 });
        var s = artifact.Manifest.InputSize;
        var random = new Random(3);
        var images = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 3 * s * s).Select(__ => random.NextSingle()).ToArray()).ToArray();
        var batch = model.Embed(images.SelectMany(i => i).ToArray(), 3);
        Assert.Equal(3, batch.Length);
        for (var i = 0; i < 3; i++)
        {
            var alone = model.Embed(images[i], 1)[0];
            Assert.Equal(artifact.Manifest.Dimension, alone.Length);
            for (var j = 0; j < alone.Length; j++)
            {
                Assert.Equal(alone[j], batch[i][j], 1e-5);
            }
        }
        Assert.NotEqual(batch[0], batch[1]);
    }
}
