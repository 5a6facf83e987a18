using Landmark.Retrieval;

await RetrievalHost.Build(args).RunAsync();
