using Landmark.Preprocess;
using Landmark.ServiceDefaults;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

await PreprocessHost.Build(args).RunAsync();
return 0;
