using System.CommandLine;
using System.CommandLine.Invocation;
using System.Runtime.InteropServices;
using Grpc.Core;

namespace Landmark.Cli;

/// <summary>
/// Ctrl+C (SIGINT) and SIGTERM while a command runs: the command's token is cancelled, the command stops where it is and
/// the process ends with one line on stderr and exit code 128 + the signal (130, 143). What the command finished stays
/// done (an import run again uploads only the images the platform does not have); an embedded platform shuts down as
/// it does at the end of any command (an import stopped this way ended in 2.3-2.9 s). A second signal is left to the
/// other handlers: without an embedded platform the runtime ends the process; with one, the platform's host still
/// finishes its graceful stop.
/// (System.CommandLine's own handling is off: a command that stopped in time by throwing its cancellation escaped its
/// signal handler as an unhandled exception — a stack trace, then the runtime's abort.)
/// </summary>
public static class Interruption
{
    private static readonly CancellationTokenSource Stopping = new();
    /// <summary>The exit code of the first signal (<see cref="ExitCodes.Interrupted"/>, <see cref="ExitCodes.Terminated"/>); 0 before one.</summary>
    private static int _exitCode;
    private static PosixSignalRegistration[]? _registrations;

    /// <summary>Handles SIGINT and SIGTERM from now on, and wraps the action of <paramref name="root"/> and of every
    /// command below it so that it gets the cancellation and ends with the signal's exit code.</summary>
    public static void Install(Command root)
    {
        _registrations ??=
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
        ];
        Wrap(root);
    }

    /// <summary>Whether <paramref name="error"/> is the command giving up because <paramref name="token"/> was cancelled.</summary>
    private static bool IsCancellation(Exception error, CancellationToken token) =>
        token.IsCancellationRequested && error is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled };

    private static void Wrap(Command command)
    {
        if (command.Action is AsynchronousCommandLineAction action and not InterruptibleAction)
        {
            command.Action = new InterruptibleAction(action);
        }
        foreach (var child in command.Subcommands)
        {
            Wrap(child);
        }
    }

    private static void OnSignal(PosixSignalContext context)
    {
        // The first signal asks the command to stop; a second one is left to the other handlers and the default.
        if (Interlocked.CompareExchange(ref _exitCode, context.Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted, 0) == 0)
        {
            context.Cancel = true;
            Stopping.Cancel();
        }
    }

    private sealed class InterruptibleAction(AsynchronousCommandLineAction inner) : AsynchronousCommandLineAction
    {
        public override async Task<int> InvokeAsync(ParseResult parseResult, CancellationToken cancellationToken = default)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, Stopping.Token);
            try
            {
                return await inner.InvokeAsync(parseResult, stop.Token);
            }
            catch (Exception ex) when (IsCancellation(ex, stop.Token))
            {
                var code = Volatile.Read(ref _exitCode) is ExitCodes.Terminated ? ExitCodes.Terminated : ExitCodes.Interrupted;
                await Console.Error.WriteLineAsync($"interrupted ({(code == ExitCodes.Terminated ? "SIGTERM" : "SIGINT")}): stopped; what was done stays done");
                return code;
            }
        }
    }
}
