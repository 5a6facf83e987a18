using Landmark.Trainer;

await TrainerHost.Build(args).RunAsync();
