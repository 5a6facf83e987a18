using Landmark.Retrieval;
using Landmark.ServiceDefaults;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

await RetrievalHost.Build(args).RunAsync();
return 0;
