using Landmark.Scorer;

await ScorerHost.Build(args).RunAsync();
