using Freshet.Console;
using Freshet.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);

// run.sh and the browser test run the build output, not a publish: this serves MudBlazor's and the framework's static
// files from their package folders there too. In a published app there is no manifest and it does nothing.
builder.WebHost.UseStaticWebAssets();
builder.AddServiceDefaults();
builder.AddConsole();

var app = builder.Build();
app.MapConsole();
app.MapDefaultEndpoints();
app.Run();

/// <summary>The console host; public so tests can refer to its assembly.</summary>
public partial class Program;
