using Landmark.Platform;
using Landmark.ServiceDefaults;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

await PlatformHost.Build(args).RunAsync();
return 0;
