using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Landmark.Training;
using Microsoft.Extensions.Options;

namespace Landmark.Trainer;

/// <summary>Options of <c>trainer train</c> (section <c>Landmark:TrainingJob</c>).</summary>
public sealed class OneShotTrainingOptions
{
    public const string SectionName = "Landmark:TrainingJob";

    /// <summary>Job id. In Kubernetes the chart sets it to the Job's name, so a retried pod resumes the same job from
    /// its checkpoint instead of starting over.</summary>
    [RegularExpression("^[A-Za-z0-9_-]{1,64}$")]
    public string? Id { get; set; }

    /// <summary>Roll the trained model out (make it live) when training ends.</summary>
    public bool Publish { get; set; } = true;

    /// <summary>Publish even when the model scores below the live one on the job's held-out set.</summary>
    public bool ForcePublish { get; set; }
}

/// <summary>
/// <c>trainer train [--Landmark:Training:Epochs=20 ...]</c>: starts the trainer host (health endpoints, metrics,
/// messaging), runs one training job with the configured <see cref="TrainingOptions"/> to its end, and exits. The job
/// is owned by this process (<see cref="TrainingJobRecord.Owner"/>), so the trainer service's own runner leaves it
/// alone; a restarted pod with the same job id resumes it.
/// </summary>
public static class OneShotTraining
{
    public const string Command = "train";

    public static async Task<int> RunAsync(string[] args)
    {
        var app = TrainerHost.Build(args, oneShot: true);
        var options = app.Configuration.GetSection(OneShotTrainingOptions.SectionName).Get<OneShotTrainingOptions>() ?? new OneShotTrainingOptions();
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            Console.Error.WriteLine($"{OneShotTrainingOptions.SectionName}: {string.Join("; ", results.Select(r => r.ErrorMessage))}");
            return 2;
        }
        var jobId = options.Id ?? string.Create(CultureInfo.InvariantCulture, $"job-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}");
        await app.StartAsync();
        var logger = app.Services.GetRequiredService<ILogger<TrainingJobRunner>>();
        var runner = app.Services.GetRequiredService<TrainingJobRunner>();
        var training = app.Services.GetRequiredService<IOptions<TrainingOptions>>().Value;
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var (updates, subscription) = runner.Subscribe(jobId);
        TrainingJobRecord job;
        using (subscription)
        {
            job = await runner.SubmitAsync(new TrainingJobRecord { JobId = jobId, Options = training, Publish = options.Publish, ForcePublish = options.ForcePublish, Owner = TrainingJobRecord.OwnerPrefix + jobId },
                lifetime.ApplicationStopping, runHere: true);
            logger.LogInformation("Training job {JobId}: {State}", jobId, job.State);
            try
            {
                while (!job.IsTerminal)
                {
                    var update = await updates.ReadAsync(lifetime.ApplicationStopping);
                    job = update.Job;
                }
            }
            catch (OperationCanceledException)
            {
                logger.LogWarning("Stopped before training job {JobId} ended; a restart with the same id resumes it", jobId);
            }
        }
        await app.StopAsync();
        logger.LogInformation("Training job {JobId} ended {State} {Model}", jobId, job.State, job.ModelVersion);
        return job.State == TrainingJobState.Completed ? 0 : 1;
    }
}
