using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Landmark.Training;

/// <summary>Generalised-mean pooling with a learnable exponent p (p=1 is average pooling, p→∞ max pooling).</summary>
public sealed class GeM : nn.Module<Tensor, Tensor>
{
    public const double Epsilon = 1e-6;
    private readonly Parameter p;

    public GeM(double initialP = 3.0) : base(nameof(GeM))
    {
        p = nn.Parameter(torch.tensor((float)initialP));
        RegisterComponents();
    }

    public float P => p.item<float>();

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var pooled = x.clamp(min: Epsilon).pow(p).mean([2, 3], keepdim: true).pow(1 / p);
        return pooled.MoveToOuterDisposeScope();
    }
}

/// <summary>Convolution (no bias) + batch norm + optional ReLU (ReLU6 in MobileNet blocks).</summary>
public sealed class ConvBn : nn.Module<Tensor, Tensor>
{
    public ConvBn(long inChannels, long outChannels, long kernel, long stride = 1, long groups = 1, Activation activation = Activation.Relu)
        : base(nameof(ConvBn))
    {
        conv = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: kernel / 2, groups: groups, bias: false);
        bn = nn.BatchNorm2d(outChannels);
        Activation = activation;
        Stride = stride;
        Groups = groups;
        RegisterComponents();
    }

    internal readonly Conv2d conv;
    internal readonly BatchNorm2d bn;
    public Activation Activation { get; }
    public long Stride { get; }
    public long Groups { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = bn.forward(conv.forward(x));
        y = Activation switch
        {
            Activation.Relu => nn.functional.relu(y),
            Activation.Relu6 => nn.functional.relu6(y),
            _ => y,
        };
        return y.MoveToOuterDisposeScope();
    }
}

public enum Activation
{
    None,
    Relu,
    Relu6,
}

/// <summary>ResNet basic block: two 3×3 ConvBn, identity (or 1×1 projection) shortcut, ReLU after the sum.</summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    public BasicBlock(long inChannels, long outChannels, long stride) : base(nameof(BasicBlock))
    {
        first = new ConvBn(inChannels, outChannels, 3, stride);
        second = new ConvBn(outChannels, outChannels, 3, 1, activation: Activation.None);
        shortcut = stride != 1 || inChannels != outChannels ? new ConvBn(inChannels, outChannels, 1, stride, activation: Activation.None) : null;
        RegisterComponents();
    }

    internal readonly ConvBn first;
    internal readonly ConvBn second;
    internal readonly ConvBn? shortcut;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = second.forward(first.forward(x));
        var skip = shortcut is null ? x : shortcut.forward(x);
        return nn.functional.relu(y + skip).MoveToOuterDisposeScope();
    }
}

/// <summary>MobileNetV2 inverted residual: 1×1 expand (ReLU6), 3×3 depthwise (ReLU6), 1×1 linear projection, residual
/// when shapes allow.</summary>
public sealed class InvertedResidual : nn.Module<Tensor, Tensor>
{
    public InvertedResidual(long inChannels, long outChannels, long stride, long expansion) : base(nameof(InvertedResidual))
    {
        var hidden = inChannels * expansion;
        expand = expansion == 1 ? null : new ConvBn(inChannels, hidden, 1, activation: Activation.Relu6);
        depthwise = new ConvBn(hidden, hidden, 3, stride, groups: hidden, activation: Activation.Relu6);
        project = new ConvBn(hidden, outChannels, 1, activation: Activation.None);
        UseResidual = stride == 1 && inChannels == outChannels;
        RegisterComponents();
    }

    internal readonly ConvBn? expand;
    internal readonly ConvBn depthwise;
    internal readonly ConvBn project;
    public bool UseResidual { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = expand is null ? x : expand.forward(x);
        y = project.forward(depthwise.forward(y));
        return (UseResidual ? y + x : y).MoveToOuterDisposeScope();
    }
}
