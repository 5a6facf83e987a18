using Landmark.Platform;

await PlatformHost.Build(args).RunAsync();
