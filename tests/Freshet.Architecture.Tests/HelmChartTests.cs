using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Freshet.Architecture.Tests;

/// <summary>
/// No helm and no docker here: the chart (helm/freshet) and the Dockerfile are parsed and checked against each other and
/// against the code, so a renamed endpoint, verb, port, project or setting cannot leave the deployment behind.
/// </summary>
public sealed class HelmChartTests
{
    private const string ImageRepositoryValue = ".Values.image.repository";

    public static TheoryData<string> ManifestTemplates => [.. HelmTemplates.ManifestFiles()];

    [Fact]
    public void Chart_IsAHelm3ChartWithNameAndVersion()
    {
        var chart = LoadMapping(Path.Combine(HelmTemplates.ChartDirectory, "Chart.yaml"));

        Assert.True(HelmTemplates.Scalar(chart, "apiVersion") == "v2",
            $"helm/freshet/Chart.yaml: apiVersion is '{HelmTemplates.Scalar(chart, "apiVersion")}'; Helm 3 charts declare apiVersion: v2.");
        Assert.False(string.IsNullOrWhiteSpace(HelmTemplates.Scalar(chart, "name")), "helm/freshet/Chart.yaml has no name.");
        var version = HelmTemplates.Scalar(chart, "version");
        Assert.True(version is not null && Regex.IsMatch(version, @"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"),
            $"helm/freshet/Chart.yaml: version '{version}' is not a SemVer 2 version, which Helm requires (e.g. 0.1.0).");
    }

    [Fact]
    public void Values_ParseAndNameTheImageRepository()
    {
        var values = LoadMapping(Path.Combine(HelmTemplates.ChartDirectory, "values.yaml"));

        Assert.False(string.IsNullOrWhiteSpace(HelmTemplates.Scalar(values, "image", "repository")),
            "helm/freshet/values.yaml: image.repository is empty; it must name the image built from the repository's Dockerfile (see helm/README.md).");
    }

    [Theory]
    [MemberData(nameof(ManifestTemplates))]
    public void Template_ParsesAsKubernetesObjects(string file)
    {
        var documents = HelmTemplates.Documents(file);

        Assert.True(documents.Count > 0, $"helm/freshet/templates/{file} renders no object.");
        var failures = documents
            .Select((document, index) => (Index: index + 1, Missing: new[] { "apiVersion", "kind", "metadata" }.Where(key => HelmTemplates.Child(document, key) is null).ToList()))
            .Where(d => d.Missing.Count > 0)
            .Select(d => $"document {d.Index} has no {string.Join(", ", d.Missing)}")
            .ToList();
        Assert.True(failures.Count == 0,
            $"helm/freshet/templates/{file}: {string.Join("; ", failures)}. Every Kubernetes object needs apiVersion, kind and metadata.");
    }

    [Fact]
    public void Templates_Images_AreTheValuesImageRepository()
    {
        var defines = HelmTemplates.Defines();
        var images = HelmTemplates.ManifestFiles()
            .SelectMany(file => Regex.Matches(File.ReadAllText(Path.Combine(HelmTemplates.TemplatesDirectory, file)), @"^\s*-?\s*image:\s*(.+?)\s*$", RegexOptions.Multiline)
                .Select(match => (File: file, Value: match.Groups[1].Value)))
            .ToList();

        Assert.NotEmpty(images);
        var offending = images.Where(image => !HelmTemplates.Mentions(image.Value, ImageRepositoryValue, defines)).ToList();
        Assert.True(offending.Count == 0,
            $"Every container image must come from {ImageRepositoryValue} (the image the Dockerfile builds), directly or through an included "
            + $"template such as \"freshet.image\"; these do not: {string.Join("; ", offending.Select(i => $"templates/{i.File}: image: {i.Value}"))}.");
    }

    [Fact]
    public void Dockerfile_BaseImages_AreDotnetImagesOfTheTargetFramework()
    {
        var framework = Regex.Match(Repository.Read("Directory.Build.props"), @"<TargetFramework>net(\d+\.\d+)</TargetFramework>");
        Assert.True(framework.Success, "Directory.Build.props sets no <TargetFramework>netX.Y</TargetFramework>.");
        var version = framework.Groups[1].Value;

        var stages = Dockerfile.Load().Stages();
        Assert.NotEmpty(stages);
        var aliases = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var offending = new List<string>();
        foreach (var (image, alias) in stages)
        {
            if (!aliases.Contains(image)
                && !Regex.IsMatch(image, $@"^mcr\.microsoft\.com/dotnet/[a-z0-9./-]+:{Regex.Escape(version)}($|[.-])"))
            {
                offending.Add(image);
            }

            if (alias is not null)
            {
                aliases.Add(alias);
            }
        }

        Assert.True(offending.Count == 0,
            $"Dockerfile: every FROM must be an mcr.microsoft.com/dotnet/… image tagged {version}, the version the projects target (net{version} in "
            + $"Directory.Build.props); these are not: {string.Join(", ", offending)}.");
    }

    [Fact]
    public void Deployment_ContainerPort_IsTheImagesHttpPort()
    {
        var dockerfile = Dockerfile.Load();
        var exposed = dockerfile.ExposedPorts();
        var environment = dockerfile.FinalEnvironment();
        Assert.True(environment.TryGetValue("ASPNETCORE_HTTP_PORTS", out var httpPortsValue),
            "Dockerfile: the runtime stage sets no ENV ASPNETCORE_HTTP_PORTS, so the port Kestrel listens on is not pinned by the image.");
        var httpPorts = httpPortsValue.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();

        var ports = ContainerPorts();
        Assert.NotEmpty(ports);
        var offending = ports.Where(p => !exposed.Contains(p.Port) || !httpPorts.Contains(p.Port)).Select(p => $"container '{p.Container}' port '{p.Name}' = {p.Port}").ToList();
        Assert.True(offending.Count == 0,
            $"helm/freshet/templates: {string.Join("; ", offending)}, but the Dockerfile's runtime stage has EXPOSE {string.Join(" ", exposed)} "
            + $"and ASPNETCORE_HTTP_PORTS={httpPortsValue}. The three must agree: change containerPort or the Dockerfile.");
    }

    [Fact]
    public void Service_TargetPort_IsTheContainerPort()
    {
        var ports = ContainerPorts();
        var targets = HelmTemplates.OfKind("Service")
            .SelectMany(service => HelmTemplates.Child(HelmTemplates.Child(service, "spec"), "ports") is YamlSequenceNode sequence ? sequence.Children : [])
            .Select(port => HelmTemplates.Scalar(port, "targetPort"))
            .ToList();

        Assert.NotEmpty(targets);
        var offending = targets.Where(target => !ResolvesToContainerPort(target, ports)).ToList();
        Assert.True(offending.Count == 0,
            $"helm/freshet/templates: Service targetPort {string.Join(", ", offending.Select(t => $"'{t}'"))} is neither the name nor the number of a Deployment "
            + $"container port ({DescribePorts(ports)}); the Service would send traffic nowhere.");
    }

    [Fact]
    public void Probes_Paths_AreHealthEndpointsTheHostMaps()
    {
        const string Source = "src/Freshet.ServiceDefaults/ServiceDefaultsExtensions.cs";
        var mapped = Regex.Matches(Repository.Read(Source), @"MapHealthChecks\(\s*""([^""]+)""").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(mapped);
        var ports = ContainerPorts();

        var probes = HelmTemplates.AllDocuments()
            .SelectMany(d => HelmTemplates.FindAll(d.Document, "httpGet").Select(probe => (d.File, Probe: probe)))
            .ToList();
        Assert.NotEmpty(probes);
        var failures = new List<string>();
        foreach (var (file, probe) in probes)
        {
            var path = HelmTemplates.Scalar(probe, "path");
            var port = HelmTemplates.Scalar(probe, "port");
            if (path is null || !mapped.Contains(path))
            {
                failures.Add($"templates/{file}: a probe calls GET {path}, but the host maps health checks only at {string.Join(", ", mapped)} ({Source}); "
                    + "point the probe at one of those, or map the path");
            }

            if (!ResolvesToContainerPort(port, ports))
            {
                failures.Add($"templates/{file}: the probe on {path} uses port '{port}', which is not a container port ({DescribePorts(ports)})");
            }
        }

        Assert.True(failures.Count == 0, $"helm/freshet: {string.Join(". ", failures)}.");
    }

    [Fact]
    public void Templates_Args_AreVerbsTheHostHandles()
    {
        var program = $"src/{HostProject()}/Program.cs";
        var verbs = Regex.Matches(Repository.Read(program), @"""([^""]+)""\s*=>").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(verbs);

        var args = HelmTemplates.AllDocuments()
            .SelectMany(d => HelmTemplates.FindAll(d.Document, "args").Select(a => (d.File, Args: a)))
            .ToList();
        Assert.NotEmpty(args);

        // Program.cs dispatches on the first argument; later ones are that verb's options.
        var offending = args
            .Select(a => (a.File, Verb: ((a.Args as YamlSequenceNode)?.Children.FirstOrDefault() as YamlScalarNode)?.Value))
            .Where(a => a.Verb is null || !verbs.Contains(a.Verb))
            .Select(a => $"templates/{a.File} runs the image with args '{a.Verb}'")
            .ToList();
        Assert.True(offending.Count == 0,
            $"helm/freshet: {string.Join("; ", offending)}, which {program} does not handle (its verbs: {string.Join(", ", verbs)}). "
            + "The container would start the server instead of running the command.");
    }

    [Fact]
    public void Dockerfile_HostArg_NamesAProjectUnderSrc()
    {
        var host = HostProject();
        var project = Repository.PathOf("src", host, host + ".csproj");

        Assert.True(File.Exists(project),
            $"Dockerfile: ARG HOST={host} must name src/<HOST>/<HOST>.csproj, but src/{host}/{host}.csproj does not exist; the image build would fail.");
    }

    [Fact]
    public void Dockerfile_Hosts_AreExecutableProjectsPublishedUnderTheirOwnName()
    {
        // The image runs /app/${HOST}.dll: every host it is documented to build (the default and each
        // `--build-arg HOST=…` of its header) must be an executable project whose assembly is named after its folder.
        var text = Repository.Read("Dockerfile");
        var hosts = Regex.Matches(text, @"--build-arg\s+HOST=([A-Za-z0-9_.-]+)").Select(m => m.Groups[1].Value).Prepend(HostProject()).Distinct().ToList();
        Assert.True(text.Contains("/app/${FRESHET_HOST}.dll", StringComparison.Ordinal) && text.Contains("FRESHET_HOST=${HOST}", StringComparison.Ordinal),
            "Dockerfile: the runtime stage must set FRESHET_HOST=${HOST} and run /app/${FRESHET_HOST}.dll; the checks below assume it.");

        var failures = new List<string>();
        foreach (var host in hosts)
        {
            var path = Repository.PathOf("src", host, host + ".csproj");
            if (!File.Exists(path))
            {
                failures.Add($"HOST={host}: src/{host}/{host}.csproj does not exist");
                continue;
            }

            var project = File.ReadAllText(path);
            if (!project.Contains("Sdk=\"Microsoft.NET.Sdk.Web\"", StringComparison.Ordinal) && !Regex.IsMatch(project, @"<OutputType>\s*Exe\s*</OutputType>"))
            {
                failures.Add($"HOST={host}: src/{host}/{host}.csproj is a library (no <OutputType>Exe</OutputType>, not Microsoft.NET.Sdk.Web), so `dotnet {host}.dll` cannot run it");
            }

            var assemblyName = Regex.Match(project, @"<AssemblyName>\s*([^<]+?)\s*</AssemblyName>");
            if (assemblyName.Success && assemblyName.Groups[1].Value != host)
            {
                failures.Add($"HOST={host}: src/{host}/{host}.csproj sets <AssemblyName>{assemblyName.Groups[1].Value}</AssemblyName>, so the publish has no /app/{host}.dll "
                    + "(remove the AssemblyName, or rename the project)");
            }
        }

        Assert.True(failures.Count == 0, $"Dockerfile: {string.Join("; ", failures)}.");
    }

    [Fact]
    public void Chart_Roles_AreRolesTheHostKnows()
    {
        const string Source = "src/Freshet.ControlPlane.Host/ControlPlaneRoles.cs";
        var known = Regex.Match(Repository.Read(Source), @"Known\s*=\s*\[([^\]]*)\]");
        Assert.True(known.Success, $"{Source} has no `Known = [\"api\", …]` list of roles; this test reads the roles the host accepts from it.");
        var hostRoles = Regex.Matches(known.Groups[1].Value, "\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();

        var helpers = HelmTemplates.AllFiles()["_helpers.tpl"];
        var chartList = Regex.Match(helpers, @"\$known\s*:=\s*list((?:\s+""[^""]+"")+)");
        Assert.True(chartList.Success, "helm/freshet/templates/_helpers.tpl: the \"freshet.roles\" template has no `$known := list \"api\" …` of accepted roles.");
        var chartRoles = Regex.Matches(chartList.Groups[1].Value, "\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();

        var values = LoadMapping(Path.Combine(HelmTemplates.ChartDirectory, "values.yaml"));
        var defaults = (HelmTemplates.Child(HelmTemplates.Child(values, "controlPlane"), "roles") as YamlSequenceNode)?.Children
            .OfType<YamlScalarNode>().Select(n => n.Value ?? "").ToList() ?? [];

        var unknownToHost = chartRoles.Except(hostRoles).ToList();
        Assert.True(unknownToHost.Count == 0,
            $"helm/freshet accepts the roles {string.Join(", ", unknownToHost)} in controlPlane.roles, which {Source} does not know "
            + $"(it knows {string.Join(", ", hostRoles)}); the pods would stop at start. Fix the list in _helpers.tpl (\"freshet.roles\").");
        Assert.True(defaults.Count > 0 && defaults.All(chartRoles.Contains),
            $"helm/freshet/values.yaml: controlPlane.roles ({string.Join(", ", defaults)}) must be a non-empty list of roles the chart accepts "
            + $"({string.Join(", ", chartRoles)}).");
    }

    [Fact]
    public void Templates_ConnectionStringVariables_AreConnectionsTheCodeReads()
    {
        var variables = EnvironmentVariables("ConnectionStrings");
        Assert.NotEmpty(variables);

        var failures = new List<string>();
        foreach (var variable in variables)
        {
            var segments = variable.Split("__");
            var name = Regex.Escape(segments[^1]);
            if (segments.Length != 2)
            {
                failures.Add($"{variable} is not of the form ConnectionStrings__<Name>");
            }
            else if (!Repository.SourceFiles.Values.Any(source => Regex.IsMatch(source, $@"ConnectionName\s*=\s*""{name}""|GetConnectionString\(\s*""{name}""\s*\)")))
            {
                failures.Add($"{variable} names the connection string \"{segments[1]}\", which no code in src/ reads "
                    + "(as a XxxConnectionName = \"…\" constant or GetConnectionString(\"…\"))");
            }
        }

        Assert.True(failures.Count == 0,
            $"helm/freshet/templates: {string.Join("; ", failures)}. The setting would be ignored: rename the variable to the name the code reads.");
    }

    [Fact]
    public void Templates_FreshetVariables_AreSettingsTheCodeBinds()
    {
        var variables = EnvironmentVariables("Freshet");
        Assert.NotEmpty(variables);

        var failures = new List<string>();
        foreach (var variable in variables)
        {
            var segments = variable.Split("__");
            var section = $"Freshet:{segments[1]}";
            var files = Repository.SourceFiles.Where(f => f.Value.Contains($"\"{section}\"", StringComparison.Ordinal)).ToList();
            if (files.Count == 0)
            {
                failures.Add($"{variable}: no code in src/ reads the configuration section \"{section}\" (e.g. Section = \"Freshet:Auth\" on an options class)");
                continue;
            }

            // Numeric segments index a list (Freshet__Secrets__PreviousMasterKeys__0); the others must be properties.
            var missing = segments.Skip(2)
                .Where(segment => !segment.All(char.IsAsciiDigit))
                .Where(property => !files.Any(f => Regex.IsMatch(f.Value, $@"\bpublic\s+(required\s+)?[\w<>\[\],.?\s]+?\s+{Regex.Escape(property)}\s*\{{\s*get")))
                .ToList();
            if (missing.Count > 0)
            {
                failures.Add($"{variable}: the options bound to \"{section}\" ({string.Join(", ", files.Select(f => f.Key))}) have no public property {string.Join(", ", missing)}");
            }
        }

        Assert.True(failures.Count == 0,
            $"helm/freshet/templates: {string.Join("; ", failures)}. The setting would be ignored: fix its name (or the code's).");
    }

    /// <summary>The HOST the Dockerfile builds by default: the project under src/ whose dll the image runs.</summary>
    private static string HostProject()
    {
        var args = Dockerfile.Load().GlobalArgs;
        Assert.True(args.TryGetValue("HOST", out var host) && !string.IsNullOrWhiteSpace(host),
            "Dockerfile: no global ARG HOST=<project> before the first FROM; the image would not know which host to build.");
        return host!;
    }

    private static List<(string Container, string? Name, int Port)> ContainerPorts()
    {
        var ports = new List<(string, string?, int)>();
        foreach (var deployment in HelmTemplates.OfKind("Deployment"))
        {
            var containers = HelmTemplates.Child(HelmTemplates.Child(HelmTemplates.Child(HelmTemplates.Child(deployment, "spec"), "template"), "spec"), "containers");
            foreach (var container in (containers as YamlSequenceNode)?.Children.OfType<YamlMappingNode>() ?? [])
            {
                var containerName = HelmTemplates.Scalar(container, "name") ?? "?";
                foreach (var port in (HelmTemplates.Child(container, "ports") as YamlSequenceNode)?.Children.OfType<YamlMappingNode>() ?? [])
                {
                    var value = HelmTemplates.Scalar(port, "containerPort");
                    Assert.True(int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number),
                        $"helm/freshet/templates: container '{containerName}' has containerPort '{value}'; it must be a literal number, because the image fixes it.");
                    ports.Add((containerName, HelmTemplates.Scalar(port, "name"), number));
                }
            }
        }

        return ports;
    }

    private static string DescribePorts(List<(string Container, string? Name, int Port)> ports) =>
        string.Join(", ", ports.Select(p => $"{p.Name}={p.Port}"));

    private static bool ResolvesToContainerPort(string? reference, List<(string Container, string? Name, int Port)> ports) =>
        reference is not null
        && (int.TryParse(reference, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? ports.Any(p => p.Port == number)
            : ports.Any(p => p.Name == reference));

    /// <summary>Environment variable names with the given first segment, anywhere under templates/ (helpers included).</summary>
    private static List<string> EnvironmentVariables(string prefix) =>
        [.. HelmTemplates.AllFiles().Values
            .SelectMany(text => Regex.Matches(text, $@"(?<![A-Za-z0-9_]){prefix}(__[A-Za-z0-9]+)+").Select(m => m.Value))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)];

    private static YamlMappingNode LoadMapping(string path)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(File.ReadAllText(path)));
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            Assert.Fail($"{Repository.Relative(path)} is not valid YAML (line {e.Start.Line}, column {e.Start.Column}): {e.Message}");
        }

        Assert.True(stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode,
            $"{Repository.Relative(path)} must hold one YAML mapping.");
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }
}
