using System.Reflection;
using Freshet.Contracts;
using Freshet.ControlPlane.Api;
using Freshet.ControlPlane.Host;
using Freshet.ControlPlane.Scheduler;
using Freshet.ControlPlane.Status;
using Freshet.DataPlane;
using Freshet.ServiceDefaults;
using NetArchTest.Rules;

namespace Freshet.Architecture.Tests;

/// <summary>
/// Hosts compose modules; modules reach each other only through Freshet.Contracts; the data plane knows nothing of the
/// control plane but the contracts. Each rule is checked twice: on type-level dependencies (NetArchTest reads the IL)
/// and on the assemblies each one references (metadata).
/// </summary>
public sealed class ModuleBoundaryTests
{
    private const string ContractsName = "Freshet.Contracts";
    private const string ServiceDefaultsName = "Freshet.ServiceDefaults";
    private const string HostName = "Freshet.ControlPlane.Host";
    private const string DataPlaneName = "Freshet.DataPlane";
    private const string WorkerName = "Freshet.DataPlane.Worker";

    /// <summary>The namespace prefix of every control-plane assembly: modules and host.</summary>
    private const string ControlPlanePrefix = "Freshet.ControlPlane";

    private static readonly string[] ModuleNames = ["Freshet.ControlPlane.Api", "Freshet.ControlPlane.Scheduler", "Freshet.ControlPlane.Status"];

    /// <summary>Every Freshet assembly under src/, found through one type in each (the worker has no public type: by name).</summary>
    private static readonly Dictionary<string, Assembly> Assemblies = new[]
    {
        typeof(TenantRole).Assembly,
        typeof(ServiceDefaultsExtensions).Assembly,
        typeof(ApiModule).Assembly,
        typeof(SchedulerModule).Assembly,
        typeof(StatusModule).Assembly,
        typeof(HostCommands).Assembly,
        typeof(DataPlaneOptions).Assembly,
        Assembly.Load(new AssemblyName(WorkerName)),
    }.ToDictionary(a => a.GetName().Name!, StringComparer.Ordinal);

    /// <summary>The Freshet assemblies each assembly may reference, and how to fix a reference that is not allowed.</summary>
    private static readonly Dictionary<string, (string[] Allowed, string Fix)> ReferenceRules = CreateReferenceRules();

    /// <summary>
    /// Type names outside the host's namespace that still belong to the host: the top-level-statements entry point. Found
    /// through the entry point rather than typeof(Program): an executable with the ASP.NET Core framework has a public
    /// Program of its own, which would make the name ambiguous here.
    /// </summary>
    private static readonly string HostProgram = typeof(HostCommands).Assembly.EntryPoint!.DeclaringType!.FullName!;

    public static TheoryData<string> Modules => [.. ModuleNames];

    public static TheoryData<string> RuledAssemblies => [.. ReferenceRules.Keys];

    public static TheoryData<string> DataPlaneAssemblies => [DataPlaneName, WorkerName];

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
    public void ServiceDefaults_Types_DoNotDependOnModulesHostOrDataPlane()
    {
        var failures = Forbidden(ServiceDefaultsName, [.. ModuleNames, HostName, HostProgram, DataPlaneName]);

        Assert.True(failures.Count == 0,
            $"{ServiceDefaultsName} is shared by every host and must not know any module, host or the data plane. {string.Join(" ", failures)} "
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

    [Theory]
    [MemberData(nameof(Modules))]
    public void Module_Types_DoNotDependOnTheDataPlane(string module)
    {
        var failures = Forbidden(module, [DataPlaneName]);

        Assert.True(failures.Count == 0,
            $"{module} must not use {DataPlaneName}: pipelines reach workers as {ContractsName}.PipelineSpec, and only {HostName} composes the "
            + $"data plane (the embedded worker role). {string.Join(" ", failures)} Move that code into the host, or the shared type into {ContractsName}.");
    }

    [Theory]
    [MemberData(nameof(DataPlaneAssemblies))]
    public void DataPlane_Types_DoNotDependOnTheControlPlaneOrServiceDefaults(string assembly)
    {
        // The library must not know its executable either; the worker's own types may use the library.
        string[] forbidden = assembly == DataPlaneName ? [ControlPlanePrefix, ServiceDefaultsName, WorkerName] : [ControlPlanePrefix, ServiceDefaultsName];
        var failures = Forbidden(assembly, forbidden);

        Assert.True(failures.Count == 0,
            $"{assembly} is data-plane code: it runs in workers that have no control plane, so it may use only {ContractsName} among the "
            + $"Freshet namespaces ({WorkerName} also {DataPlaneName}). {string.Join(" ", failures)} Take what it needs as {ContractsName} "
            + $"types (e.g. a PipelineSpec), or move the code to {HostName}, which composes both.");
    }

    [Fact]
    public void Host_Namespace_IsUsedOnlyByTheHost()
    {
        var others = Assemblies.Where(a => a.Key != HostName).Select(a => a.Value).ToList();
        var onNamespace = Types.InAssemblies(others).ShouldNot().HaveDependencyOn(HostName).GetResult();
        // The worker's top-level statements make a Program of its own, which NetArchTest cannot tell from the host's by
        // name; the host's is out of reach anyway for an assembly that does not reference the host (see the rule below).
        var onProgram = Types.InAssemblies(others).That().DoNotHaveName(HostProgram).ShouldNot().HaveDependencyOn(HostProgram).GetResult();
        var offending = (onNamespace.FailingTypeNames ?? []).Concat(onProgram.FailingTypeNames ?? []).Distinct().ToList();

        Assert.True(offending.Count == 0,
            $"Only the host may use {HostName} (and its Program); it composes modules, modules never call back into it. "
            + $"Offending types: {List(offending)}. Move the member they use into the module or into {ContractsName}.");
    }

    [Theory]
    [MemberData(nameof(RuledAssemblies))]
    public void ReferencedAssemblies_AreOnlyTheFreshetAssembliesAllowedForIt(string assembly)
    {
        var (allowed, fix) = ReferenceRules[assembly];

        var offending = FreshetReferences(Assemblies[assembly]).Where(name => !allowed.Contains(name)).ToList();

        Assert.True(offending.Count == 0,
            $"{assembly} references {List(offending)}, but may reference only these Freshet assemblies: {List(allowed)}. "
            + $"Remove the ProjectReference from src/{assembly}/{assembly}.csproj. {fix}");
    }

    [Fact]
    public void FreshetReferences_AreAssembliesTheseRulesCover()
    {
        var unknown = Assemblies.Values.SelectMany(FreshetReferences).Where(name => !ReferenceRules.ContainsKey(name)).Distinct().ToList();

        Assert.True(unknown.Count == 0,
            $"Freshet assemblies are referenced that ModuleBoundaryTests has no rule for: {List(unknown)}. "
            + "Add each to the assemblies and rules of tests/Freshet.Architecture.Tests/ModuleBoundaryTests.cs.");
    }

    [Fact]
    public void SourceProjects_AllHaveBoundaryRules()
    {
        var projects = Directory.EnumerateFiles(Repository.PathOf("src"), "*.csproj", SearchOption.AllDirectories)
            .Select(Path.GetFileNameWithoutExtension)
            .OfType<string>()
            .Order(StringComparer.Ordinal)
            .ToList();
        var unruled = projects.Where(project => !ReferenceRules.ContainsKey(project) || !Assemblies.ContainsKey(project)).ToList();

        Assert.True(unruled.Count == 0,
            $"src/ has projects that ModuleBoundaryTests does not check: {List(unruled)}. Add each to Assemblies (through one of its types, or "
            + "by name with a ProjectReference from tests/Freshet.Architecture.Tests) and give it a rule in ReferenceRules.");
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

    private static Dictionary<string, (string[] Allowed, string Fix)> CreateReferenceRules()
    {
        var rules = new Dictionary<string, (string[] Allowed, string Fix)>(StringComparer.Ordinal)
        {
            [ContractsName] = ([], "Contracts depend on nothing: keep them to plain records, enums and ids."),
            [ServiceDefaultsName] = ([ContractsName], $"{ServiceDefaultsName} is shared by every host: move what both need into it or into {ContractsName}."),
            [HostName] = ([ContractsName, ServiceDefaultsName, .. ModuleNames, DataPlaneName],
                $"The host composes the modules and the data-plane library (its embedded worker role); it never references the {WorkerName} executable."),
            [DataPlaneName] = ([ContractsName],
                $"Data-plane code runs in workers without the control plane: it gets pipelines as {ContractsName}.PipelineSpec and never references "
                + $"control-plane internals or {ServiceDefaultsName} (ASP.NET Core, EF Core). Move the shared type into {ContractsName}."),
            [WorkerName] = ([DataPlaneName, ContractsName],
                $"The worker executable composes {DataPlaneName} only; what it needs from the control plane arrives as {ContractsName} types."),
        };
        foreach (var module in ModuleNames)
        {
            rules[module] = ([ContractsName, ServiceDefaultsName],
                $"Modules share types through {ContractsName}, are composed by {HostName}, and never reference {DataPlaneName} (only the host composes it).");
        }

        return rules;
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
