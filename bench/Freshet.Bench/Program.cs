using Freshet.Bench;

return await BenchCommands.RunAsync(args);
