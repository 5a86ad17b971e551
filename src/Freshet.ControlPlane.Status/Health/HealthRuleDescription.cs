using Freshet.Contracts;

namespace Freshet.ControlPlane.Status.Health;

/// <summary>One health rule as people read it: the README's table and the API's documentation are rendered from these.</summary>
/// <param name="Order">Its place in the evaluation, from 1; a lower number is more severe.</param>
/// <param name="State">The state the pipeline gets when this is the first rule that applies.</param>
/// <param name="When">When the rule applies.</param>
/// <param name="ReasonCodes">The reason codes it can give (see <see cref="HealthReasonCodes"/>).</param>
/// <param name="EndsEvaluation">When it applies, no later rule is looked at (their reasons would be noise).</param>
public sealed record HealthRuleDescription(int Order, PipelineHealthState State, string When, IReadOnlyList<string> ReasonCodes, bool EndsEvaluation);
