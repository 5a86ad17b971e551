using Freshet.Contracts;
using Freshet.DataPlane.Runtime;
using MassTransit;

namespace Freshet.ControlPlane.Host;

/// <summary>
/// The scheduler's hint, on this process's bus, that the embedded worker's assignments changed: it reads them now
/// rather than at its next poll. A hint only — a lost one delays, never corrupts.
/// </summary>
internal sealed class EmbeddedWorkerHints(WorkerAgent agent) : IConsumer<WorkerAssignmentsChanged>
{
    public Task Consume(ConsumeContext<WorkerAssignmentsChanged> context)
    {
        if (context.Message.WorkerIds.Contains(agent.WorkerId))
        {
            agent.Poke();
        }

        return Task.CompletedTask;
    }
}
