using System.Reflection;
using Freshet.Contracts;
using Freshet.ControlPlane.Api;
using Freshet.ControlPlane.Host;
using Freshet.ControlPlane.Scheduler;
using Freshet.ControlPlane.Status;
using Freshet.ServiceDefaults;
using NetArchTest.Rules;

namespace Freshet.Architecture.Tests;

/// <summary>
/// Hosts compose modules; modules reach each other only through Freshet.Contracts. Each rule is checked twice: on
/// type-level dependencies (NetArchTest reads the IL) and on the assemblies each one references (metadata).
/// </summary>
public sealed class ModuleBoundaryTests
{
    private const string ContractsName = "Freshet.Contracts";
    private const string ServiceDefaultsName = "Freshet.ServiceDefaults";
    private const string HostName = "Freshet.ControlPlane.Host";

    private static readonly string[] ModuleNames = ["Freshet.ControlPlane.Api", "Freshet.ControlPlane.Scheduler", "Freshet.ControlPlane.Status"];

    /// <summary>Every Freshet assembly the control plane is built from, found through one type in each.</summary>
    private static readonly Dictionary<string, Assembly> Assemblies = new[]
    {
        typeof(TenantRole).Assembly,
        typeof(ServiceDefaultsExtensions).Assembly,
        typeof(ApiModule).Assembly,
        typeof(SchedulerModule).Assembly,
        typeof(StatusModule).Assembly,
        typeof(HostCommands).Assembly,
    }.ToDictionary(a => a.GetName().Name!, StringComparer.Ordinal);

    /// <summary>Type names outside the host's namespace that still belong to the host: the top-level-statements entry point.</summary>
    private static readonly string HostProgram = typeof(Program).FullName!;

    public static TheoryData<string> Modules => [.. ModuleNames];

    public static TheoryData<string> NonHostAssemblies => [ContractsName, ServiceDefaultsName, .. ModuleNames];

    [Fact]
    public void Contracts_Types_DependOnlyOnSystemNamespaces()
    {
        // Only the Freshet types: the compiler also emits attribute types of its own (Microsoft.CodeAnalysis.EmbeddedAttribute).
        var result = Types.InAssembly(Assemblies[ContractsName])
            .That().ResideInNamespaceStartingWith(ContractsName)
            .Should().OnlyHaveDependenciesOn("System", ContractsName)
            .GetResult();

        Assert.True(result.IsSuccessful,
            $"{ContractsName} must depend on nothing but System.* (it is shared by every module and process, and by the data plane). "
            + $"These types use another namespace — another Freshet assembly or a package: {List(result.FailingTypeNames)}. "
            + "Keep contracts to plain records, enums and ids built from BCL types.");
    }

    [Fact]
    public void Contracts_References_OnlyBaseClassLibraryAssemblies()
    {
        // An assembly that ships with Microsoft.NETCore.App is part of the BCL; anything else is a package or a project.
        var runtimeDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var offending = Assemblies[ContractsName].GetReferencedAssemblies()
            .Select(r => r.Name!)
            .Where(name => !File.Exists(Path.Combine(runtimeDirectory, name + ".dll")) || !IsSystemAssembly(name))
            .ToList();

        Assert.True(offending.Count == 0,
            $"{ContractsName} may reference only System.* assemblies of the .NET base class library, but references: {List(offending)}. "
            + "Remove the ProjectReference/PackageReference from src/Freshet.Contracts/Freshet.Contracts.csproj and the types that need it.");
    }

    [Fact]
    public void ServiceDefaults_Types_DoNotDependOnModulesOrHost()
    {
        var failures = Forbidden(ServiceDefaultsName, [.. ModuleNames, HostName, HostProgram]);

        Assert.True(failures.Count == 0,
            $"{ServiceDefaultsName} is shared by every host and must not know any module or host. {string.Join(" ", failures)} "
            + "Move what both need into Freshet.ServiceDefaults itself or into Freshet.Contracts.");
    }

    [Theory]
    [MemberData(nameof(Modules))]
    public void Module_Types_DoNotDependOnOtherModulesOrHost(string module)
    {
        var failures = Forbidden(module, [.. ModuleNames.Where(m => m != module), HostName, HostProgram]);

        Assert.True(failures.Count == 0,
            $"{module} must reach other modules only through {ContractsName}. {string.Join(" ", failures)} "
            + $"Put the shared message, id or enum into {ContractsName}, or compose the two modules in the host.");
    }

    [Fact]
    public void Host_Namespace_IsUsedOnlyByTheHost()
    {
        var result = Types.InAssemblies(Assemblies.Where(a => a.Key != HostName).Select(a => a.Value))
            .ShouldNot().HaveDependencyOnAny(HostName, HostProgram)
            .GetResult();

        Assert.True(result.IsSuccessful,
            $"Only the host may use {HostName} (and its Program); it composes modules, modules never call back into it. "
            + $"Offending types: {List(result.FailingTypeNames)}. Move the member they use into the module or into {ContractsName}.");
    }

    [Theory]
    [MemberData(nameof(NonHostAssemblies))]
    public void ReferencedAssemblies_AreOnlyTheFreshetAssembliesAllowedForIt(string assembly)
    {
        string[] allowed = assembly switch
        {
            ContractsName => [],
            ServiceDefaultsName => [ContractsName],
            _ => [ContractsName, ServiceDefaultsName],
        };

        var offending = FreshetReferences(Assemblies[assembly]).Where(name => !allowed.Contains(name)).ToList();

        Assert.True(offending.Count == 0,
            $"{assembly} references {List(offending)}, but may reference only these Freshet assemblies: {List(allowed)}. "
            + $"Remove the ProjectReference from src/{assembly}/{assembly}.csproj; modules share types through {ContractsName} and are composed by {HostName}.");
    }

    [Fact]
    public void Host_ReferencesOnlyFreshetAssembliesTheseRulesCover()
    {
        var unknown = FreshetReferences(Assemblies[HostName]).Where(name => !Assemblies.ContainsKey(name)).ToList();

        Assert.True(unknown.Count == 0,
            $"{HostName} references Freshet assemblies that ModuleBoundaryTests has no rule for: {List(unknown)}. "
            + "Add each to the assemblies and rules of tests/Freshet.Architecture.Tests/ModuleBoundaryTests.cs.");
    }

    /// <summary>For each forbidden namespace or type, the types of <paramref name="assembly"/> that use it.</summary>
    private static List<string> Forbidden(string assembly, IEnumerable<string> forbidden)
    {
        var failures = new List<string>();
        foreach (var dependency in forbidden)
        {
            var result = Types.InAssembly(Assemblies[assembly]).ShouldNot().HaveDependencyOn(dependency).GetResult();
            if (!result.IsSuccessful)
            {
                failures.Add($"These types depend on {dependency}: {List(result.FailingTypeNames)}.");
            }
        }

        return failures;
    }

    private static IEnumerable<string> FreshetReferences(Assembly assembly) =>
        assembly.GetReferencedAssemblies()
            .Select(r => r.Name!)
            .Where(name => name.StartsWith("Freshet.", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    private static bool IsSystemAssembly(string name) =>
        name is "System" or "netstandard" or "mscorlib" || name.StartsWith("System.", StringComparison.Ordinal);

    private static string List(IEnumerable<string>? names)
    {
        var list = names?.ToList() ?? [];
        return list.Count == 0 ? "(none)" : string.Join(", ", list);
    }
}
