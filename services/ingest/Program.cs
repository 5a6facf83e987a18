using Landmark.Ingest;
using Landmark.ServiceDefaults;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

await IngestHost.Build(args).RunAsync();
return 0;
