using System.Diagnostics;
using System.Globalization;
using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Training;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Images per second of fine-tuning steps (forward, backward, gradient clipping, AdamW) on the trainer's network, next
/// to PyTorch (Debian's python3-torch running benchmarks/pytorch-peer/finetune_speed.py on the same graph, size, batch,
/// frozen stages and thread count) in the same run, and the embedder's ONNX Runtime throughput for the default
/// pretrained model at batch 1 and at its batch size.
/// </summary>
internal static class SpeedBenchmark
{
    public static async Task RunAsync(TrainingOptions options, int steps)
    {
        var threads = Environment.ProcessorCount;
        var sizes = new[] { options.ImageSize, 160 }.Distinct().ToArray();
        Console.WriteLine($"fine-tuning speed, batch {options.BatchSize}, {threads} threads, frozen stages {options.Backbone.FrozenStages}, {steps} timed steps after 2 warm-up steps");
        Console.WriteLine($"CPU: {CpuNumerics.CpuFeatures}; ONEDNN_MAX_CPU_ISA={CpuNumerics.OneDnnMaxCpuIsa ?? "(not set)"}");
        Console.WriteLine("| size | TorchSharp images/s | PyTorch images/s | ratio |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var size in sizes)
        {
            var mine = TorchSharpStepsPerSecond(options, size, steps);
            var peer = await PyTorchAsync(options, size, steps, threads);
            var ratio = peer is { } p ? (mine / p).ToString("F2", CultureInfo.InvariantCulture) : "n/a";
            Console.WriteLine($"| {size} | {mine:F2} | {(peer is { } q ? q.ToString("F2", CultureInfo.InvariantCulture) : "not measured (python3-torch and python3-onnx missing)")} | {ratio} |");
        }

        var artifact = PretrainedModel.Build(PretrainedBackbone.LoadImageNetResNet18());
        var embedderOptions = new EmbedderOptions();
        using var model = new OnnxEmbeddingModel(artifact.OnnxBytes, artifact.Manifest, embedderOptions);
        Console.WriteLine($"embedder (ONNX Runtime, {artifact.Manifest.Version}, {artifact.Manifest.InputSize} px):");
        foreach (var batch in new[] { 1, 4, embedderOptions.MaxBatchSize }.Distinct())
        {
            var pixels = new float[batch * 3 * artifact.Manifest.InputSize * artifact.Manifest.InputSize];
            for (var i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (i * 7919 % 1000) / 1000f;
            }
            model.Embed(pixels, batch);
            var rounds = Math.Max(3, 48 / batch);
            var stopwatch = Stopwatch.StartNew();
            for (var r = 0; r < rounds; r++)
            {
                model.Embed(pixels, batch);
            }
            Console.WriteLine($"  batch {batch,2}: {rounds * batch / stopwatch.Elapsed.TotalSeconds:F1} images/s");
        }
    }

    private static double TorchSharpStepsPerSecond(TrainingOptions options, int size, int steps)
    {
        const int classes = 12;
        torch.manual_seed(1);
        using var network = new EmbeddingNetwork(options.Backbone, options.EmbeddingDimension);
        using var head = new ArcMarginHead(options.EmbeddingDimension, classes, options.Scale, Enumerable.Repeat(0.3, classes).ToArray(), options.SubCenters);
        foreach (var p in network.Pretrained?.ParametersOfStages(options.Backbone.FrozenStages) ?? [])
        {
            p.requires_grad_(false);
        }
        var trainable = network.parameters().Concat(head.parameters()).Where(p => p.requires_grad).ToList();
        using var optimizer = optim.AdamW(trainable, 1e-4, weight_decay: 1e-4);
        network.TrainMode();
        head.train();
        using var images = torch.rand(options.BatchSize, 3, size, size);
        using var labels = torch.randint(0, classes, [options.BatchSize], ScalarType.Int64);
        void Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(head.forward(network.Features(images), labels), labels);
            loss.backward();
            nn.utils.clip_grad_norm_(trainable, 10);
            optimizer.step();
        }
        Step();
        Step();
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < steps; i++)
        {
            Step();
        }
        return options.BatchSize * steps / stopwatch.Elapsed.TotalSeconds;
    }

    private static async Task<double?> PyTorchAsync(TrainingOptions options, int size, int steps, int threads)
    {
        var script = Path.Combine(FindRepoRoot(), "benchmarks", "pytorch-peer", "finetune_speed.py");
        var start = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[]
        {
            script, "--onnx", Path.Combine(PretrainedBackbone.DefaultDirectory(), PretrainedBackbone.NetworkFile),
            "--size", size.ToString(CultureInfo.InvariantCulture), "--batch", options.BatchSize.ToString(CultureInfo.InvariantCulture),
            "--steps", steps.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture),
            "--frozen", options.Backbone.FrozenStages.ToString(CultureInfo.InvariantCulture),
        })
        {
            start.ArgumentList.Add(arg);
        }
        try
        {
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync();
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("pytorch images/s=", StringComparison.Ordinal));
            if (process.ExitCode != 0 || line is null)
            {
                Console.WriteLine($"  (PyTorch peer failed: {error.Trim().Split('\n').LastOrDefault()})");
                return null;
            }
            return double.Parse(line["pytorch images/s=".Length..].Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Landmark.Services.sln")))
            {
                return dir.FullName;
            }
        }
        return Directory.GetCurrentDirectory();
    }
}
