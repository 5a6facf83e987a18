using Landmark.Scorer;
using Landmark.ServiceDefaults;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

await ScorerHost.Build(args).RunAsync();
return 0;
