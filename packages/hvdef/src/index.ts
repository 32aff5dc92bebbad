export const HV_PLACEHOLDER = 0;
