using Landmark.Ingest;

await IngestHost.Build(args).RunAsync();
