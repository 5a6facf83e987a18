using Landmark.Trainer;
using Landmark.ServiceDefaults;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

await TrainerHost.Build(args).RunAsync();
return 0;
