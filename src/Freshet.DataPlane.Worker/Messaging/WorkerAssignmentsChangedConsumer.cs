using Freshet.Contracts;
using Freshet.DataPlane.Runtime;
using MassTransit;

namespace Freshet.DataPlane.Worker.Messaging;

/// <summary>
/// The scheduler's hint that some workers' assignments changed: when this worker is named, it reads its assignments now
/// instead of at its next poll. Only a hint (the control database is the truth): a lost message delays, never corrupts.
/// </summary>
internal sealed class WorkerAssignmentsChangedConsumer(WorkerAgent agent) : IConsumer<WorkerAssignmentsChanged>
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
