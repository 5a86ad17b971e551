using Freshet.Console.Api;

namespace Freshet.Console.Components.Shared;

/// <summary>Why a button is disabled for someone whose role only reads.</summary>
internal static class Roles
{
    public static bool CanChange(Membership? membership) => membership?.CanChangePipelines == true;

    /// <summary>E.g. "Your role in Demo Co is viewer: only an editor, admin or owner can create connections."</summary>
    public static string ReadOnlyReason(Membership? membership, string action) => membership is null
        ? $"Only members of the tenant can {action}."
        : $"Your role in {membership.Name} is {membership.Role}: only an editor, admin or owner can {action}.";
}
