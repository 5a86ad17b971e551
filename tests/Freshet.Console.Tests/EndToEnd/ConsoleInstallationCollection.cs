namespace Freshet.Console.Tests.EndToEnd;

/// <summary>
/// The browser test classes share one installation per run: starting PostgreSQL, the control plane and the console is
/// the slow part. Tests in it create what they need with unique names and do not count what others may have added.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ConsoleInstallationCollection : ICollectionFixture<ConsoleInstallationFixture>
{
    public const string Name = "console installation";
}
