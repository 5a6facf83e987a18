using Landmark.Embedder;

await EmbedderHost.Build(args).RunAsync();
