using Landmark.Embedder;
using Landmark.ServiceDefaults;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

await EmbedderHost.Build(args).RunAsync();
return 0;
