using Landmark.Preprocess;

await PreprocessHost.Build(args).RunAsync();
