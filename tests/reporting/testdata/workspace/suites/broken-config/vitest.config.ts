throw new Error("this config does not load");
