// Hostile images through the preprocess service as configured (Landmark:Preprocess, Landmark:Imaging; override with
// --Landmark:Preprocess:ConcurrencyLimit=4 and the like): the generated hostile corpus, then eight solid-colour
// 8,900×8,900 PNGs (318 kB each), published as ImageIngested on the in-memory bus. Prints what each kind got, the time
// and the process's peak resident memory (VmHWM, reset after the corpus is generated).
using System.Collections.Concurrent;
using System.Diagnostics;
using Landmark.Contracts.Messages;
using Landmark.HostileCorpus;
using Landmark.Imaging;
using Landmark.Preprocess;
using Landmark.ServiceDefaults;
using Landmark.Storage;
using MassTransit;

var pngsOnly = args.Contains("--pngs-only");
var root = Path.Combine(Path.GetTempPath(), $"landmark-hostile-bench-{Environment.ProcessId}");
Directory.CreateDirectory(root);
try
{
    Console.WriteLine("Generating the corpus…");
    var corpus = pngsOnly ? [] : Corpus.Build().ToList();
    (byte R, byte G, byte B)[] colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200), (120, 120, 120), (250, 250, 250)];
    var pngs = colours.Select((c, i) => new HostileFile($"solid-png-8900-{i}", "solid-8900-png", Encoders.SolidPng(8900, 8900, c.R, c.G, c.B), Expect.Accepted)).ToList();

    var builder = LandmarkApplication.CreateBuilder([.. args.Where(a => a.StartsWith("--Landmark:", StringComparison.Ordinal)),
        $"--Landmark:Storage:Local:Root={root}", "--Landmark:Messaging:Transport=InMemory", "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Landmark.Preprocess=Error"]);
    builder.AddPreprocess();
    builder.Services.AddSingleton<Answers>();
    builder.AddLandmarkMessaging(x =>
    {
        PreprocessModule.AddConsumers(x);
        x.AddConsumer<AnswerConsumer>().Endpoint(e => e.Name = "hostile-bench-answers");
    });
    await using var app = builder.Build();
    await app.StartAsync();
    var store = app.Services.GetRequiredService<IObjectStore>();
    var bus = app.Services.GetRequiredService<IBus>();
    var answers = app.Services.GetRequiredService<Answers>();
    var budget = app.Services.GetRequiredService<DecodeBudget>();
    var preprocess = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PreprocessOptions>>().Value;
    var imaging = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ImagingOptions>>().Value;

    var rounds = new List<(string Title, List<HostileFile> Files)> { ("hostile corpus", corpus), ("eight 8,900×8,900 solid PNGs", pngs) };
    Console.WriteLine($"Concurrency {preprocess.ConcurrencyLimit}, decode budget {imaging.DecodeBudgetMegapixels} MP, MaxPixels {imaging.MaxPixels:N0}; " +
        $"{corpus.Count} hostile files ({Corpus.Summary(corpus)}), {pngs.Count} PNGs of {pngs[0].Bytes.Length:N0} bytes");
    foreach (var bucket in Buckets.All)
    {
        await store.EnsureBucketAsync(bucket);
    }
    foreach (var (_, files) in rounds)
    {
        foreach (var file in files)
        {
            await store.PutBytesAsync(Buckets.Raw, $"{file.Name}/original", file.Bytes, "application/octet-stream");
        }
    }
    corpus = [.. corpus.Select(f => f with { Bytes = [] })]; // the bytes live in the store now
    pngs = [.. pngs.Select(f => f with { Bytes = [] })];
    rounds = [("hostile corpus", corpus), ("eight 8,900×8,900 solid PNGs", pngs)];
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();

    foreach (var (title, files) in rounds)
    {
        if (files.Count == 0)
        {
            continue;
        }
        var resetOk = ResetPeak();
        var before = Status("VmRSS");
        var stopwatch = Stopwatch.StartNew();
        foreach (var file in files)
        {
            await bus.Publish(new ImageIngested(file.Name, $"{file.Name}/original", $"{file.Name}.jpg", GalleryRole.Landmark, "1", null, 0, DateTimeOffset.UtcNow));
        }
        while (!files.All(f => answers.ById.ContainsKey(f.Name)) && stopwatch.Elapsed < TimeSpan.FromMinutes(20))
        {
            await Task.Delay(50);
        }
        var unanswered = files.Count(f => !answers.ById.ContainsKey(f.Name));
        var accepted = files.Count(f => answers.ById.TryGetValue(f.Name, out var a) && a == "accepted");
        var codes = files.Where(f => answers.ById.TryGetValue(f.Name, out var a) && a != "accepted")
            .GroupBy(f => answers.ById[f.Name]).Select(g => $"{g.Key} {g.Count()}");
        Console.WriteLine($"{title}: {files.Count} files in {stopwatch.Elapsed.TotalSeconds:F1} s: {accepted} accepted, " +
            $"{files.Count - accepted - unanswered} rejected ({string.Join(", ", codes)}), {unanswered} unanswered");
        Console.WriteLine($"  resident memory: {before / 1024.0:F0} MB before, peak {Status("VmHWM") / 1024.0:F0} MB (VmHWM{(resetOk ? ", reset before the round" : ", NOT reset: peak since start")}); " +
            $"decode budget peak {budget.Peak / 1e6:F1} MP of {budget.Capacity / 1e6:F0}");
    }
    await app.StopAsync();
    return 0;
}
finally
{
    Directory.Delete(root, recursive: true);
}

// /proc/self/status fields in kB.
static long Status(string field)
{
    foreach (var line in File.ReadLines("/proc/self/status"))
    {
        if (line.StartsWith(field + ":", StringComparison.Ordinal))
        {
            return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        }
    }
    return -1;
}

// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
static bool ResetPeak()
{
    try
    {
        File.WriteAllText("/proc/self/clear_refs", "5");
        return true;
    }
    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
    {
        return false;
    }
}

internal sealed class Answers
{
    public ConcurrentDictionary<string, string> ById { get; } = new();
}

internal sealed class AnswerConsumer(Answers answers) : IConsumer<ImagePreprocessed>, IConsumer<ImageRejected>
{
    public Task Consume(ConsumeContext<ImagePreprocessed> context)
    {
        answers.ById.TryAdd(context.Message.ImageId, "accepted");
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<ImageRejected> context)
    {
        answers.ById.TryAdd(context.Message.ImageId, context.Message.Code);
        return Task.CompletedTask;
    }
}
