using Freshet.Console.Api;

namespace Freshet.Console.Components.Shared;

/// <summary>Who reaches the support view: platform staff (support and platform admins), who read every tenant.</summary>
internal static class PlatformAccess
{
    public const string SupportHome = "support";

    public static bool IsPlatformStaff(this Me me) => me.PlatformRole is "support" or "platform_admin";

    /// <summary>
    /// Platform staff who belong to no tenant have nothing tenant-scoped to see (those pages would ask the API for a tenant
    /// they have none of): the console keeps them in the support view.
    /// </summary>
    public static bool OnlySupportView(this Me me) => me.Memberships.Count == 0 && me.IsPlatformStaff();

    public static bool IsSupportPath(string relativePath) =>
        relativePath == SupportHome || relativePath.StartsWith(SupportHome + "/", StringComparison.Ordinal) || relativePath.StartsWith(SupportHome + "?", StringComparison.Ordinal);
}
