using System.Globalization;
using Landmark.Contracts.Api.V1;

namespace Landmark.Cli;

/// <summary>Shows training progress: a progress bar redrawn in place on a terminal, one line per epoch always.</summary>
public sealed class TrainingProgressView(TextWriter output, bool interactive)
{
    private const int BarWidth = 30;
    private string? _lastMessage;
    private bool _barShown;
    private DateTime _lastPlainLine = DateTime.MinValue;

    public void Show(TrainingProgress update)
    {
        var job = update.Job;
        if (update.Message.Length > 0 && update.Message != _lastMessage && update.EpochReport is null)
        {
            ClearBar();
            output.WriteLine($"[{job.JobId}] {update.Message}");
            _lastMessage = update.Message;
        }
        if (update.EpochReport is { } e)
        {
            ClearBar();
            var validation = e.ValidationGap >= 0 ? string.Create(CultureInfo.InvariantCulture, $" val-GAP {e.ValidationGap:F4} val-acc {e.ValidationAccuracy:F3}") : "";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"epoch {e.Epoch}/{job.Epochs}: loss {e.Loss:F3} train-acc {e.Accuracy:F3}{validation} {e.ImagesPerSecond:F1} images/s lr {e.LearningRate:G3} ({e.ImageSize}px)"));
        }
        if (job.State == TrainingJob.Types.State.Training && job.TotalSteps > 0)
        {
            var fraction = (double)job.Step / job.TotalSteps;
            var line = string.Create(CultureInfo.InvariantCulture, $"[{new string('#', (int)(fraction * BarWidth)).PadRight(BarWidth, '.')}] {fraction * 100,5:F1}%  step {job.Step}/{job.TotalSteps}  epoch {Math.Min(job.Epoch + 1, job.Epochs)}/{job.Epochs}  loss {job.RunningLoss:F3}");
            if (interactive)
            {
                output.Write("\r" + line);
                _barShown = true;
            }
            else if (DateTime.UtcNow - _lastPlainLine > TimeSpan.FromSeconds(10))
            {
                output.WriteLine(line);
                _lastPlainLine = DateTime.UtcNow;
            }
        }
    }

    public void Finish() => ClearBar();

    private void ClearBar()
    {
        if (_barShown)
        {
            output.Write("\r" + new string(' ', BarWidth + 60) + "\r");
            _barShown = false;
        }
    }
}
