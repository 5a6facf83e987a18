using Landmark.Trainer;
using Landmark.ServiceDefaults;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

// `train`: one training job in this process (a Kubernetes Job/CronJob on the GPU pool), then exit 0 (completed) or 1.
if (args.Length > 0 && args[0] == OneShotTraining.Command)
{
    return await OneShotTraining.RunAsync(args[1..]);
}

await TrainerHost.Build(args).RunAsync();
return 0;
