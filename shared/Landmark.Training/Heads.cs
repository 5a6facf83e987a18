using TorchSharp;
using static TorchSharp.torch;

namespace Landmark.Training;

public enum HeadKind
{
    Softmax,
    ArcFace,
    SubCenterArcFace,
}

/// <summary>A classification head over embedding features: returns logits [N, classes] for the cross-entropy loss.
/// Margin heads need the labels during training.</summary>
public abstract class MetricHead : nn.Module<Tensor, Tensor, Tensor>
{
    protected MetricHead(string name) : base(name)
    {
    }
}

/// <summary>Plain linear classifier (softmax cross-entropy).</summary>
public sealed class SoftmaxHead : MetricHead
{
    private readonly TorchSharp.Modules.Linear linear;

    public SoftmaxHead(long features, long classes) : base(nameof(SoftmaxHead))
    {
        linear = nn.Linear(features, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor features, Tensor labels) => linear.forward(features);
}

/// <summary>
/// (Sub-center) ArcFace: cosine between normalised features and normalised class centres, the target class's angle
/// widened by its margin, all scaled by s. With k sub-centres per class the class cosine is the best of its k
/// centres (robust to noisy labels, as in GLR 2020). Margins may differ per class (<see cref="AdaptiveMargins"/>).
/// </summary>
public sealed class ArcMarginHead : MetricHead
{
    private readonly TorchSharp.Modules.Parameter weight;
    private readonly Tensor margins;

    public ArcMarginHead(long features, long classes, double scale, double[] marginPerClass, int subCenters = 1) : base(nameof(ArcMarginHead))
    {
        if (marginPerClass.Length != classes)
        {
            throw new ArgumentException($"{marginPerClass.Length} margins for {classes} classes", nameof(marginPerClass));
        }
        Classes = classes;
        SubCenters = subCenters;
        Scale = scale;
        weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(classes * subCenters, features)));
        margins = torch.tensor(marginPerClass.Select(m => (float)m).ToArray());
        RegisterComponents();
    }

    public long Classes { get; }
    public int SubCenters { get; }
    public double Scale { get; }

    /// <summary>Cosine of each feature to each class (best sub-centre): [N, classes].</summary>
    public Tensor Cosine(Tensor features)
    {
        using var scope = NewDisposeScope();
        var cos = nn.functional.linear(nn.functional.normalize(features, p: 2, dim: 1), nn.functional.normalize(weight, p: 2, dim: 1));
        if (SubCenters > 1)
        {
            cos = cos.view(-1, Classes, SubCenters).amax([2]);
        }
        return cos.MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor features, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var cos = Cosine(features).clamp(-1 + 1e-7, 1 - 1e-7);
        var theta = cos.acos();
        var m = margins.to(features.device).index_select(0, labels).unsqueeze(1);
        var target = (theta + m).cos();
        var oneHot = nn.functional.one_hot(labels, Classes).to(ScalarType.Bool);
        var logits = torch.where(oneHot, target, cos) * Scale;
        return logits.MoveToOuterDisposeScope();
    }
}

/// <summary>Per-class margins from class frequency (GLR 2020): m_c = low + (high − low)·(n_c^−¼ − min)/(max − min), so
/// rare classes get larger margins.</summary>
public static class AdaptiveMargins
{
    public static double[] FromClassCounts(IReadOnlyList<int> counts, double low = 0.05, double high = 0.5)
    {
        if (counts.Count == 0 || counts.Any(c => c <= 0))
        {
            throw new ArgumentException("every class needs at least one image", nameof(counts));
        }
        var scores = counts.Select(c => Math.Pow(c, -0.25)).ToArray();
        double min = scores.Min(), max = scores.Max();
        return scores.Select(v => max - min < 1e-12 ? (low + high) / 2 : low + ((high - low) * (v - min) / (max - min))).ToArray();
    }
}

/// <summary>Cosine learning-rate schedule with linear warm-up.</summary>
public static class CosineWarmup
{
    public static double LearningRate(long step, long totalSteps, long warmupSteps, double peak, double floor = 0)
    {
        if (step < warmupSteps)
        {
            return peak * (step + 1) / warmupSteps;
        }
        var progress = Math.Clamp((double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps), 0, 1);
        return floor + ((peak - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
