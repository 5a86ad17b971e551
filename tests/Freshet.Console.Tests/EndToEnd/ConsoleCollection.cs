namespace Freshet.Console.Tests.EndToEnd;

/// <summary>
/// Every browser test class shares one installation (starting PostgreSQL, the control plane and the console takes most
/// of a test run on two cores); the classes of the collection run one after another.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleInstallationFixture>
{
    public const string Name = "console installation";
}
